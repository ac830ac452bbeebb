"""Example schemas for the ``extract`` task, importable from config (``distil.extract.examples.X:Model``)."""
