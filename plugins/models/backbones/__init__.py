"""Backbones of the model zoo: each returns its feature maps from fine to coarse and lists their channels."""
