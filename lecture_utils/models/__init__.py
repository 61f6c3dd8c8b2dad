"""Architectures of the lectures, from scratch and readable (state-dict compatible with torchvision)."""

from .shifted import cnn_flatten, cnn_gap

__all__ = ["cnn_flatten", "cnn_gap"]
