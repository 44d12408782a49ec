"""The top layer: the ``nordlid`` console script (``cli``) and the main job ``nordlid run``.

``run`` defines the pipeline's stages (corpus → validate → extract → features → train →
evaluate → held-out → drift) over the capability packages; ``runner`` skips a stage whose
inputs and parameters are unchanged; ``run_cli`` is the ``nordlid run`` command.
"""
