"""distil-contrib-fasttext: an example student plugin, fastText text classifiers.

See contrib/README.md. Registered as ``fasttext.textcat.v1``; passes distil's StudentConformance.
"""

from .student import FastTextConfig, FastTextStudent, tokens

__all__ = ["FastTextConfig", "FastTextStudent", "tokens"]
