"""The models: the sentence embedder, the ONNX sessions (cross-encoder, ColBERT) and late interaction."""
