"""distil-annotate: the ``distil annotate`` web app over a project's store."""

__version__ = "0.1.0"
