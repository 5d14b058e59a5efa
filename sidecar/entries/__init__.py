"""Entries, fields, redaction and pattern counters: the ingest stage between sources and the hub.

`ingest.Ingest` runs once per published batch (in `Hub.publish`), per source:
redact -> parse (fields, level, time) -> group into multi-line entries -> count patterns.
"""
