"""Answering a question: first-stage retrieval, fusion, reranking and the extractive answer."""
