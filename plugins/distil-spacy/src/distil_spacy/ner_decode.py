"""Greedy NER decoding that also keeps how sure the parser was of each token's action.

spaCy's ``ner`` is a greedy transition-based parser: it gives no probability per entity (only its
``beam_ner`` variant does, at several times the cost). This module runs the same greedy decode as
``EntityRecognizer.predict`` (same action scores, the best *valid* action each step) from Python,
and records, for every token, the softmax probability of the action taken on it (each NER action
decides exactly one token: ``B``, ``I``, ``L``, ``U`` or ``O``). The annotations it sets are the ones
``nlp.pipe`` would set; a test checks that.

From those token probabilities: an entity's confidence is the smallest over its tokens, and a
Doc's confidence is the smallest over *all* its tokens: the weakest decision in the text, so a
likely missed entity (an unsure ``O``) lowers it as much as an unsure entity does. That is what the
annotation queue needs to rank texts. A Doc with no tokens has confidence 1.0.
"""

from __future__ import annotations

from typing import Any


def decode(ner: Any, docs: list[Any]) -> list[list[float]]:
    """Set ``doc.ents`` on ``docs`` with ``ner`` and return each token's action probability."""
    import numpy

    probs = [[1.0] * len(doc) for doc in docs]
    if not any(len(doc) for doc in docs):
        return probs
    moves = ner.moves
    names = [moves.get_class_name(i) for i in range(moves.n_moves)]
    states = moves.init_batch(docs)
    # spaCy gives "unseen" actions the lowest score *of the whole batch*; leaving them out of the
    # softmax keeps a text's confidence independent of the batch it is decoded in.
    unseen = sorted(ner.model.attrs.get("unseen_classes") or ())
    step = ner.model.predict(docs)
    todo = [(i, s) for i, s in enumerate(states) if not s.is_final()]
    while todo:
        scores = numpy.asarray(step.predict([s for _, s in todo]), dtype="float64")
        if unseen:
            scores[:, unseen] = -numpy.inf
        exp = numpy.exp(scores - scores.max(axis=1, keepdims=True))
        softmax = exp / exp.sum(axis=1, keepdims=True)
        order = numpy.argsort(-scores, axis=1, kind="stable")
        for row, (i, state) in enumerate(todo):
            token = state.B(0)
            for action in order[row]:
                name = names[action]
                if moves.is_valid(state, name):
                    moves.apply_transition(state, name)
                    if 0 <= token < len(probs[i]):
                        probs[i][token] = float(softmax[row, action])
                    break
            else:  # no valid action: cannot happen for a finished model, but never loop forever
                raise RuntimeError(f"ner: no valid action for token {token} of doc {i}")
        todo = [(i, s) for i, s in todo if not s.is_final()]
    step.clear_memory()
    ner.set_annotations(docs, states)
    return probs
