"""Frozen pretrained backbones (xlsr, mms, whisper-tiny, whisper-base, ecapa, titanet).

Modules: ``catalog`` (names, checkpoints, dims → registry entries), ``ssl`` (wav2vec2
family), ``whisper``, ``ecapa`` (SpeechBrain), ``titanet`` (NeMo), ``random_init``
(full-size random-weight models for benchmarks); shared helpers in ``common``,
``chunking``, ``pooling`` and ``specs``.  Heavy libraries are imported only when a
backbone is built.
"""
