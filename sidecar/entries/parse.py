"""Structured lines (JSON, logfmt) and the line's own time, parsed once at ingest.

A line's fields are kept as JSON bytes (`msgspec.Raw`): for a JSON line its own (redacted)
text, checked by one decode that reads only the level and time keys; for logfmt the pairs
encoded once. So a held line's fields are one bytes object (no Python dict per line for the
garbage collector to walk), sent as they are on the wire, and decoded only for field filters
(`decode_fields`, cached so each line is decoded once however many clients filter on it).

Bounded so a hostile or huge line costs little: lines longer than MAX_PARSE_BYTES, and logfmt
lines with more than MAX_FIELDS pairs, are left unparsed (`fields` None, text kept); decoding
for a filter gives up past MAX_DEPTH levels or MAX_FIELDS keys.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import msgspec

from sidecar.lines import detect_level, normalise_level

MAX_PARSE_BYTES = 16_384
MAX_DEPTH = 6
MAX_FIELDS = 128
LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "levelname", "log.level", "log_level")
TIME_KEYS = ("ts", "time", "timestamp", "@timestamp", "t")
MESSAGE_KEYS = ("msg", "message")
# Bunyan/pino numeric levels.
_NUMERIC_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
_DECODE = msgspec.json.Decoder()
_ENCODE = msgspec.json.Encoder().encode
# logfmt with Python's re: one fullmatch and one findall in C. Linear: every token is a key
# without spaces, quotes or `=`, then `=`, then a quoted string or a run of non-spaces.
_KEY, _VALUE = r'[^\s="]+', r'(?:"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*)'
_LOGFMT_LINE = re.compile(rf"\s*{_KEY}={_VALUE}(?:\s+{_KEY}={_VALUE})*\s*")
_LOGFMT_PAIR = re.compile(rf"({_KEY})=({_VALUE})")
_ESCAPE = re.compile(r"\\(.)")
_KLOG = "IWEF"


class Parsed(msgspec.Struct, gc=False):
    """What parsing found in one line; None where nothing was found."""

    fields: msgspec.Raw | None = None
    level: str | None = None
    time: float | None = None


class _Head(msgspec.Struct, gc=False):
    """The keys of a JSON line that say its level and time; msgspec skips (and checks) the rest."""

    level: Any = None
    lvl: Any = None
    severity: Any = None
    loglevel: Any = None
    levelname: Any = None
    log_level: Any = None
    log_dot_level: Any = msgspec.field(default=None, name="log.level")
    log: Any = None  # ECS: {"log": {"level": ...}}
    ts: Any = None
    time: Any = None
    timestamp: Any = None
    at_timestamp: Any = msgspec.field(default=None, name="@timestamp")
    t: Any = None


_HEAD = msgspec.json.Decoder(_Head)


def parse_line(text: str, assume_utc: bool = False) -> Parsed:
    """Fields, level and time of one (first) line. Cheap exits first: this runs for every line."""
    if text[:1] == "{" and len(text) <= MAX_PARSE_BYTES:
        try:
            head = _HEAD.decode(text)
        except (msgspec.DecodeError, msgspec.ValidationError):
            head = None  # not a JSON object: plain text that starts with a brace
        if head is not None:
            level = _json_level(head) or detect_level(text)
            stamp = _json_time(head)
            return Parsed(msgspec.Raw(text.encode()), level, stamp if stamp is not None else leading_time(text, assume_utc))
    elif "=" in text:
        fields = logfmt_fields(text)
        if fields is not None:
            stamp = field_time(fields)
            return Parsed(
                msgspec.Raw(_ENCODE(fields)),
                field_level(fields) or detect_level(text),
                stamp if stamp is not None else leading_time(text, assume_utc),
            )
    return Parsed(None, detect_level(text), leading_time(text, assume_utc))


def _json_level(head: _Head) -> str | None:
    nested = head.log.get("level") if isinstance(head.log, dict) else None
    for value in (head.level, head.lvl, head.severity, head.loglevel, head.levelname, head.log_level,
                  head.log_dot_level, nested):
        level = _level_of(value)
        if level is not None:
            return level
    return None


def _json_time(head: _Head) -> float | None:
    for value in (head.ts, head.time, head.timestamp, head.at_timestamp, head.t):
        stamp = _time_of(value)
        if stamp is not None:
            return stamp
    return None


def decode_fields(raw: msgspec.Raw | None) -> dict | None:
    """The fields as a dict, for filters; None when absent, not an object or past the bounds."""
    if raw is None:
        return None
    try:
        value = _DECODE.decode(raw)
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
    elif "\\" not in text:  # quotes without escapes: split on the quotes, then on whitespace
        fields = _logfmt_quoted(text.split('"'))
        if fields is None:
            return None
    elif _LOGFMT_LINE.fullmatch(text) is not None:  # escapes inside quotes: the regex way
        fields = {key: _unquote(value) for key, value in _LOGFMT_PAIR.findall(text)}
    else:
        return None
    return fields if 2 <= len(fields) <= MAX_FIELDS else None


def _logfmt_quoted(parts: list[str]) -> dict | None:
    """Pairs from a line split on `"`: even parts are outside quotes, odd ones quoted values,
    each of which must follow a `key=` that ends the part before it."""
    if len(parts) % 2 == 0:
        return None  # a quote left open
    fields: dict[str, str] = {}
    last = len(parts) - 1
    for index in range(0, len(parts), 2):
        part = parts[index]
        if index and part and not part[0].isspace():
            return None  # text glued to a closing quote
        tokens = part.split()
        opens = index < last  # a quoted value follows this part
        if opens and (not tokens or part[-1].isspace() or not tokens[-1].endswith("=")):
            return None
        for token in tokens:
            key, equals, value = token.partition("=")
            if not equals or not key:
                return None
            fields[key] = value
        if opens:
            fields[tokens[-1][:-1]] = parts[index + 1]
    return fields


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
        level = _level_of(value)
        if level is not None:
            return level
    return None


def _level_of(value: object) -> str | None:
    if isinstance(value, str):
        return normalise_level(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _NUMERIC_LEVELS.get(value)
    return None


def field_time(fields: dict) -> float | None:
    for key in TIME_KEYS:
        stamp = _time_of(fields.get(key))
        if stamp is not None:
            return stamp
    return None


def _time_of(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value.replace(".", "", 1).isdigit():
            return epoch_seconds(float(value))
        return rfc3339(value, assume_utc=True)  # a JSON/logfmt time without zone is UTC by convention (zap, logrus)
    if isinstance(value, (int, float)):
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
    prefix `I1202 01:02:03.123456` (no zone, no year: only with `assume_utc`, this year).

    The ingest stage calls this only when `text[4:5] == "-"` or with `assume_utc` (a call per
    plain line was a tenth of its cost): a format added here must keep within that."""
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


__all__ = ["Parsed", "decode_fields", "parse_line", "lookup", "leading_time"]
