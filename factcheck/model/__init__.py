"""Model access: loading (hub, folder, GGUF, the embedded default), packed forward passes and their attention masks."""
