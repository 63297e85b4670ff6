"""The retrieval layer: loaders, splitting, embeddings, Chroma index, retrievers, answers."""
