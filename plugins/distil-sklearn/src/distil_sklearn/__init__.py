"""distil-sklearn: scikit-learn students for distil (TF-IDF + logistic regression).

Importing this package is cheap: scikit-learn, skops and numpy are imported on first use.
"""

from __future__ import annotations

from .student import SklearnTextcat

__version__ = "0.1.0"

__all__ = ["SklearnTextcat", "__version__"]
