"""Building an index: chunk, embed and encode a folder, in this process or on a Ray cluster."""
