"""CLIP: the model runtime (embedder, its faster int8 image tower) and the vector index."""
