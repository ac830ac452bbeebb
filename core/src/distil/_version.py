"""The version of core, in a module of its own.

Modules inside core that need it (the report's metadata, the plugin loader's compatibility check)
import it from here: importing it from ``distil`` would run the whole public API first and close an
import cycle through ``distil/__init__.py``.
"""

__version__ = "0.1.0"
