"""Structured lines (JSON, logfmt) and the line's own time, parsed once at ingest.

Bounded so a hostile or huge line costs little: lines longer than MAX_PARSE_BYTES, deeper than
MAX_DEPTH or with more than MAX_FIELDS keys are left unparsed (`fields` None, text kept).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import msgspec

from sidecar.lines import LEVEL_RANK, detect_level, normalise_level

MAX_PARSE_BYTES = 16_384
MAX_DEPTH = 6
MAX_FIELDS = 128
LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "levelname", "log.level", "log_level")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")
MESSAGE_KEYS = ("msg", "message")
# Bunyan/pino numeric levels.
_NUMERIC_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
_DECODE = msgspec.json.Decoder()
# logfmt with Python's re: one fullmatch and one findall in C. Linear: every token is a key
# without spaces, quotes or `=`, then `=`, then a quoted string or a run of non-spaces.
_KEY, _VALUE = r'[^\s="]+', r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*)'
_LOGFMT_LINE = re.compile(rf"\s*{_KEY}={_VALUE}(?:\s+{_KEY}={_VALUE})*\s*")
_LOGFMT_PAIR = re.compile(rf"({_KEY})=({_VALUE})")
_ESCAPE = re.compile(r"\\(.)")
_KLOG = "IWEF"


class Parsed(msgspec.Struct):
    """What parsing found in one line; None where nothing was found."""

    fields: dict | None = None
    level: str | None = None
    time: float | None = None


def parse_line(text: str, assume_utc: bool = False) -> Parsed:
    """Fields, level and time of one (first) line. Cheap exits first: this runs for every line."""
    fields = None
    if text[:1] == "{":
        fields = json_fields(text)
    elif "=" in text:
        fields = logfmt_fields(text)
    if fields is not None:
        return Parsed(fields, field_level(fields) or detect_level(text), field_time(fields) or leading_time(text, assume_utc))
    return Parsed(None, detect_level(text), leading_time(text, assume_utc))


def json_fields(text: str) -> dict | None:
    if len(text) > MAX_PARSE_BYTES or text.rstrip()[-1:] != "}":
        return None
    try:
        value = _DECODE.decode(text)
    except msgspec.DecodeError:
        return None
    if not isinstance(value, dict) or not _bounded(value, 1, [0]):
        return None
    return value


def _bounded(value: object, depth: int, count: list[int]) -> bool:
    """True when `value` stays within MAX_DEPTH levels and MAX_FIELDS keys in all."""
    if depth > MAX_DEPTH:
        return False
    if isinstance(value, dict):
        count[0] += len(value)
        if count[0] > MAX_FIELDS:
            return False
        return all(_bounded(v, depth + 1, count) for v in value.values() if isinstance(v, (dict, list)))
    if isinstance(value, list):
        count[0] += len(value)
        return count[0] <= MAX_FIELDS and all(_bounded(v, depth + 1, count) for v in value if isinstance(v, (dict, list)))
    return True


def logfmt_fields(text: str) -> dict | None:
    """`key=value key2="quoted value"` lines. Every token must be a pair (else it is prose that
    happens to hold an `=`), and at least two pairs, so `total=5 EUR` stays plain text."""
    if len(text) > MAX_PARSE_BYTES:
        return None
    if '"' not in text:  # the quick way: split on whitespace, every token a pair
        fields = {}
        for token in text.split():
            key, equals, value = token.partition("=")
            if not equals or not key:
                return None
            fields[key] = value
    elif _LOGFMT_LINE.fullmatch(text) is not None:
        fields = {key: _unquote(value) for key, value in _LOGFMT_PAIR.findall(text)}
    else:
        return None
    return fields if 2 <= len(fields) <= MAX_FIELDS else None


def _unquote(value: str) -> str:
    if value[:1] != '"':
        return value
    inner = value[1:-1]
    return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def lookup(fields: dict, key: str) -> object:
    """`fields[key]`, else the dotted path through nested objects; a missing key gives KeyError."""
    if key in fields:
        return fields[key]
    value: object = fields
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def field_level(fields: dict) -> str | None:
    for key in LEVEL_KEYS:
        value = fields.get(key)
        if value is None and "." in key and key.partition(".")[0] in fields:
            try:
                value = lookup(fields, key)
            except KeyError:
                continue
        if value is None:
            continue
        if isinstance(value, str):
            level = normalise_level(value)
            if level is not None:
                return level
        elif isinstance(value, int) and not isinstance(value, bool):
            return _NUMERIC_LEVELS.get(value)
    return None


def field_time(fields: dict) -> float | None:
    for key in TIME_KEYS:
        value = fields.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            if value.replace(".", "", 1).isdigit():
                return epoch_seconds(float(value))
            stamp = rfc3339(value, assume_utc=True)  # a JSON/logfmt time without zone is UTC by convention (zap, logrus)
            if stamp is not None:
                return stamp
        elif isinstance(value, (int, float)):
            return epoch_seconds(float(value))
    return None


def epoch_seconds(value: float) -> float | None:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by size."""
    for scale in (1, 1e3, 1e6, 1e9):
        if value < 1e11 * scale:
            return value / scale if value > 0 else None
    return None


def rfc3339(text: str, assume_utc: bool) -> float | None:
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        if not assume_utc:
            return None
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


def leading_time(text: str, assume_utc: bool = False) -> float | None:
    """The time a line starts with: RFC 3339 (zone-less only with `assume_utc`), or a klog/glog
    prefix `I1202 01:02:03.123456` (no zone, no year: only with `assume_utc`, this year)."""
    if len(text) < 19:
        return None
    if text[4] == "-" and text[10] in "T " and text[:4].isdigit():
        end = text.find(" ", 19)
        head = text[: end if end > 0 else 40]
        if head.endswith(","):
            head = head[:-1]
        stamp = rfc3339(head.replace(",", ".", 1) if "," in head else head, assume_utc)
        return stamp
    if assume_utc and text[0] in _KLOG and text[5] == " " and text[1:5].isdigit() and text[8] == ":":
        return _klog_time(text)
    return None


def _klog_time(text: str) -> float | None:
    now = datetime.now(timezone.utc)
    try:
        stamp = datetime.strptime(f"{now.year}{text[1:5]} {text[6:21]}", "%Y%m%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    if stamp.timestamp() > time.time() + 86_400:  # a December line read in January
        stamp = stamp.replace(year=now.year - 1)
    return stamp.timestamp()


__all__ = ["LEVEL_RANK", "Parsed", "parse_line", "lookup", "leading_time"]
