"""Structured lines and their own times: JSON, logfmt, leading timestamps, bounds."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from sidecar.entries.parse import MAX_FIELDS, MAX_PARSE_BYTES, decode_fields, leading_time, parse_line

T = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("text", "level", "stamp"),
    [
        ('{"level":"error","ts":"2026-11-26T12:00:00Z","msg":"x"}', "error", T),
        ('{"severity":"WARNING","time":1795694400,"message":"x"}', "warn", T),
        ('{"lvl":"info","timestamp":1795694400000}', "info", T),
        ('{"level":50,"time":1795694400000,"msg":"pino"}', "error", T),
        ('{"log.level":"debug","@timestamp":"2026-11-26T12:00:00.000Z"}', "debug", T),
        ('{"log":{"level":"warn"},"ts":"1795694400.0"}', "warn", T),
        ('time=2026-11-26T12:00:00Z level=warn msg="slow request" status=504', "warn", T),
        ('ts=1795694400 lvl=eror msg=boom', "error", T),
    ],
)
def test_level_and_time_come_from_the_usual_keys(text: str, level: str, stamp: float) -> None:
    parsed = parse_line(text)
    assert parsed.fields is not None
    assert (parsed.level, parsed.time) == (level, stamp)


def test_json_fields_keep_their_nesting_and_types() -> None:
    parsed = parse_line('{"msg":"x","http":{"status":503,"path":"/a"},"ok":false,"tags":["a"]}')
    assert decode_fields(parsed.fields) == {"msg": "x", "http": {"status": 503, "path": "/a"}, "ok": False, "tags": ["a"]}


def test_logfmt_fields_unquote_values() -> None:
    parsed = parse_line('level=info msg="hello \\"world\\"" user=bob empty= http.status=200')
    assert decode_fields(parsed.fields) == {"level": "info", "msg": 'hello "world"', "user": "bob", "empty": "", "http.status": "200"}


@pytest.mark.parametrize(
    "text",
    [
        "user=bob logged in",  # prose with an `=`
        "total=5",  # a single pair
        "2026-11-26T12:00:00Z INFO order placed total=5 EUR",
        '{"unterminated": ',
        "[1, 2, 3]",
        '{"a": 1} trailing',
        " ".join(f"k{i}=v" for i in range(MAX_FIELDS + 1)),  # more pairs than the bound
        json.dumps({"pad": "x" * MAX_PARSE_BYTES}),  # larger than the bound
        'msg="never closed level=info',
    ],
)
def test_lines_that_are_not_structured_or_too_big_keep_no_fields(text: str) -> None:
    assert parse_line(text).fields is None


@pytest.mark.parametrize(
    "text",
    ["{" + '"a":{' * 10 + "}" * 10 + "}", json.dumps({f"k{i}": i for i in range(MAX_FIELDS + 1)})],
    ids=["deeper-than-the-bound", "more-keys-than-the-bound"],
)
def test_objects_past_the_bounds_are_not_decoded_for_filters(text: str) -> None:
    parsed = parse_line(text)
    assert parsed.fields is not None and bytes(parsed.fields) == text.encode()  # sent as they are
    assert decode_fields(parsed.fields) is None  # but field filters do not walk them


@pytest.mark.parametrize(
    ("text", "assume_utc", "expected"),
    [
        ("2026-11-26T12:00:00.250Z INFO started", False, T + 0.25),
        ("2026-11-26T13:00:00+01:00 WARN x", False, T),
        ("2026-11-26 12:00:00,500 - app - ERROR - no zone", False, None),
        ("2026-11-26 12:00:00,500 - app - ERROR - no zone", True, T + 0.5),
        ("2026-11-26T12:00:00 INFO no zone", True, T),
        ("I1126 12:00:00.123456   1 main.go:12] klog", False, None),
        ("2026-13-45T99:00:00Z not a date", True, None),
        ("Ixxxx not klog at all, really", True, None),
    ],
)
def test_leading_timestamps_zone_less_only_as_utc_when_configured(text: str, assume_utc: bool, expected) -> None:
    assert leading_time(text, assume_utc) == expected


def test_klog_prefixes_have_no_year_and_are_read_as_the_latest_such_day() -> None:
    stamp = datetime.now(timezone.utc).replace(microsecond=123456) - timedelta(hours=1)
    text = stamp.strftime("E%m%d %H:%M:%S.%f") + "   1 main.go:12] boom"
    assert leading_time(text, assume_utc=True) == pytest.approx(stamp.timestamp())
    assert leading_time(text, assume_utc=False) is None
