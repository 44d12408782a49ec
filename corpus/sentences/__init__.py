"""Sentence lists written for nordlid (one sentence per line, UTF-8).

``{lang}.txt`` feeds the synthetic corpus; ``{lang}_holdout.txt`` never enters the corpus and
is only spoken by :func:`corpus.synth.synthesize_holdout`.
"""
