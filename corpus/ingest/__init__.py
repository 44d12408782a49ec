"""Ingest adapters: FLEURS-R, Common Voice 17, Ravnursson and a plain folder + labels file.

Each adapter reads its source's own layout and returns an
:class:`corpus.ingest.common.IngestResult` (manifest rows + rejects).
"""
