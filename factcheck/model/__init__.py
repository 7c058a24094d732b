"""Model access, the only part of factcheck that touches a model: loading (hub, folder, GGUF, the embedded
default), packed forward passes and their tiled attention, every hook into a forward pass, and the LRE's
prefix attention."""
