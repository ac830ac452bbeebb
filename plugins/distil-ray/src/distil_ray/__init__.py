"""distil-ray: the ``ray.v1`` executor. Importing this package does not import Ray."""

from __future__ import annotations

from .executor import RayExecutor

__all__ = ["RayExecutor"]
