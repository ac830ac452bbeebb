"""Train one fastText model in this (fresh) interpreter: ``python .../_train.py ARGS``.

fastText keeps state between trainings in one process: in a measured run the first three fits
of the same data in one interpreter were identical and every later one differed more, while fits
in fresh interpreters give byte-identical models. So :class:`~distil_fasttext.FastTextStudent`
trains here, in a child process, and loads the saved model. Arguments: a JSON object with
``input`` (the training file), ``output`` (where to save the model) and fastText's keyword
arguments.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    import fasttext

    args = json.loads(argv[1])
    output = args.pop("output")
    model = fasttext.train_supervised(**args)
    model.save_model(output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
