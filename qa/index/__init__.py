"""Where a build is kept: the local files and the Milvus collections."""
