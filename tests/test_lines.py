"""Level detection: the parsing stage every line goes through."""

from __future__ import annotations

import pytest

from datetime import datetime, timezone

from sidecar.lines import detect_level, leading_time


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T12:00:00.250Z INFO started", datetime(2026, 11, 26, 12, 0, 0, 250000, timezone.utc)),
        ("2026-11-26T13:00:00+01:00 WARN x", datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)),
        ("2026-11-26 12:00:00.5Z x", datetime(2026, 11, 26, 12, 0, 0, 500000, timezone.utc)),
        ("2026-11-26 12:00:00,123 - app - ERROR - no zone: read time is kept", None),
        ("2026-13-45T99:00:00Z not a date", None),
        ('{"ts":"2026-11-26T12:00:00Z"}', None),
        ("short", None),
    ],
)
def test_leading_time_is_used_only_when_the_zone_is_known(text: str, expected: datetime | None) -> None:
    assert leading_time(text) == (expected.timestamp() if expected else None)


def test_remembered_words_never_change_a_level() -> None:
    """Words are worked out once and remembered (bounded): a klog prefix counts only as a line's
    first word however it was seen before, and a full memory changes no answer."""
    import sidecar.lines as lines

    assert detect_level("12:00:00 E1126 moved") is None  # seen later in a line first
    assert detect_level("E1126 12:00:00.123456   1 foo.go:12] boom") == "error"
    assert detect_level("x wArN y") == "warn" and detect_level("x wArN y") == "warn"
    assert detect_level("x level=Warn") == "warn" and detect_level("y [Fatal]") == "fatal"
    texts = [f"w{i} z{i}x {word}" for i, word in enumerate(["info", "eRRor", "(crit)", "nothing"] * 2000)]
    first = [detect_level(text) for text in texts]
    assert len(lines._WORD_LEVELS) <= lines._WORD_LEVELS_MAX
    assert [detect_level(text) for text in texts] == first == ["info", "error", "fatal", None] * 2000
