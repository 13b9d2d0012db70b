"""Reading documents into text with offsets: loaders, structure, back matter, chunks, BM25 terms."""
