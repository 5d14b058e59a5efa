"""Level detection: the parsing stage every line goes through."""

from __future__ import annotations

import pytest

from sidecar.lines import detect_level


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("2026-11-26T12:00:00.000Z INFO  [orders] order 1 placed", "info"),
        ('{"ts": "x", "level": "debug", "msg": "error handling"}', "debug"),
        ('{"severity":"ERROR","message":"x"}', "error"),
        ("E1126 12:00:00.123456   1 foo.go:12] boom", "error"),
        ("W1126 12:00:00.123456   1 foo.go:12] hmm", "warn"),
        ('time=2026-11-26T12:00:00Z level=warn msg="slow"', "warn"),
        ("[WARNING] disk almost full", "warn"),
        ("INFO:root:hello", "info"),
        ("2026-11-26 12:00:00,123 - app - ERROR - failed", "error"),
        ("\x1b[33mWARN\x1b[0m  [cache] slow lookup", "warn"),
        ("panic: runtime error: index out of range", "fatal"),
        ("2026-11-26 12:00:00 CRITICAL db down", "fatal"),
        ('10.30.240.1 - - [26/Nov/2026:12:16:33 +0000] "GET /error HTTP/1.1" 500 28050', None),
        ("Traceback (most recent call last):", None),
        ("", None),
        ("x" * 100_000, None),
    ],
)
def test_detect_level(text: str, level: str | None) -> None:
    assert detect_level(text) == level
