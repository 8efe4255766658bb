"""Low-level operations shared by the models: PyTorch-exact resizing and layout helpers."""
