"""distil-spacy: spaCy students, a pretrained spaCy pipeline as teacher, spaCy pipeline components
that wrap a distil teacher or student, and DocBin export/import.

Importing this package (or its plugin module) is cheap: spaCy is imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
