"""Training: training sets from Feast, heads, metrics, W&B tracking, model registry.

Main entry points (the pipeline and the CLI call these):

- ``training.lidnet_train.train_lidnet(workdir)`` — nordlid's own backbone, registered as
  ``models/lidnet/<v>/`` with the model-scoped ``production`` alias the ``lidnet``
  extractor loads; then ``training.recipes.refresh_backbone_features(workdir)`` extracts
  its features and re-applies the Feast repo.
- ``training.train.train_model(workdir, service, head, name)`` — one head on one feature
  service (``nordlid train --feature-service ... --head ...``).
- ``training.recipes.train_recipes(workdir)`` — ``mini`` + ``premium`` + the cascade
  threshold tuned on dev (``nordlid train --recipes``; with ``--backbone lidnet`` the
  backbone is trained and its features extracted first).
- ``training.evaluate`` — ``nordlid evaluate --model REF`` and the comparison table.
- ``training.heads`` — the head kinds (``HEADS``: logreg, lda, mlp, fusion), each with its
  own config in the ``HeadConfig`` union, ``fit`` / ``save_pretrained`` / ``from_pretrained``
  and ``load_head(dir)``.
- ``training.publish.publish`` — the registering steps both trainers share: version → save →
  evaluate → card → W&B (``training.tracking.track_model``) → aliases.
- ``training.registry.ModelRegistry`` — versions, cards, aliases, ``load``, ``promote``.
"""
