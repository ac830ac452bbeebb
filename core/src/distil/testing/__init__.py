"""distil.testing: the pytest plugin core ships, with fixtures and conformance suites.

Installed as a ``pytest11`` entry point, so every project that has distil installed gets the
fixtures (``shared_data``, ``sms_spam``, ``isolated_host``). The conformance suites are classes a
plugin's tests subclass, providing the object under test as a fixture; see
:mod:`distil.testing.students` and :mod:`distil.testing.teachers`.
"""

from .data import load_split, shared_data_dir

__all__ = ["load_split", "shared_data_dir"]
