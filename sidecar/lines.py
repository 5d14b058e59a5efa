"""The unit that flows from sources through the hub to transports, and its parsing stage."""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

# Severity order, lowest first. `level` filters keep a line at or above the asked level.
LEVELS: tuple[str, ...] = ("trace", "debug", "info", "warn", "error", "fatal")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}

_LEVEL_ALIASES = {
    "trace": "trace", "trc": "trace",
    "debug": "debug", "dbg": "debug",
    "info": "info", "inf": "info", "notice": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn",
    "error": "error", "err": "error", "eror": "error",
    "fatal": "fatal", "crit": "fatal", "critical": "fatal", "panic": "fatal", "emerg": "fatal", "alert": "fatal",
}
# Levels sit near the start of a line: only the first few words (or, for JSON, a level key
# near the start) are looked at. Plain string operations: this runs for every line read.
_HEAD = 300
_WORDS = 6
_STRIP = "[]()<>{}:;,|\"'="
_JSON_KEYS = ('"level"', '"severity"', '"lvl"', '"loglevel"', '"log.level"', '"levelname"')
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The common spellings, looked up as they stand (the hot path); decorated ones ("[WARN]",
# "level=info", "INFO:root:msg") go through the slower normalisation below.
_EXACT_WORDS = {form: level for word, level in _LEVEL_ALIASES.items() for form in (word, word.upper(), word.title())}
# .NET console logger prefixes ("fail: Microsoft.AspNetCore..."), only with their colon.
_EXACT_WORDS.update({"fail:": "error", "crit:": "fatal", "dbug:": "debug", "trce:": "trace"})
_LONGEST_DECORATED = 40
_LONGEST_ALIAS = max(map(len, _LEVEL_ALIASES))
_DIGITS = frozenset("0123456789")
_KLOG = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}
# What each word seen in a line's head says (a level, or None), so a word is worked out once:
# log lines repeat their words. Starts as the common spellings; bounded, so a stream of unique
# words costs the slow path and no memory (words starting with a digit are never looked up).
_WORD_LEVELS: dict[str, str | None] = dict(_EXACT_WORDS)
_WORD_LEVELS_MAX = 4096
_UNKNOWN = object()


class LogLine(msgspec.Struct, gc=False):
    """One line of one source. `id` is the hub's event id, 0 until the hub assigns it.

    A msgspec Struct: created for every line read and encoded to JSON for every batch sent,
    both in C (a few times faster than a dataclass and json.dumps of dicts). Not tracked by
    the cyclic garbage collector (`gc=False`: it holds strings, numbers and an acyclic parsed
    JSON object, never itself), so hundreds of thousands of lines a second do not set off
    collections that walk the buffers: those were the p99 spikes of the throughput ladder.
    """

    source: str
    text: str
    time: float  # Unix seconds: the line's own timestamp when the source has one, else when read
    level: str | None = None
    truncated: bool = False
    id: int = 0
    # The id of the first line of the multi-line entry this line belongs to (== id for a first
    # or standalone line); set by the hub's ingest stage with `id`.
    entry: int = 0
    # The JSON object of a structured line's fields (JSON or logfmt), else None; kept as JSON
    # bytes and sent as they are (see sidecar/entries/parse.py).
    fields: msgspec.Raw | None = None


def held_bytes(line: LogLine) -> int:
    """What holding `line` costs beyond its fixed overhead: its text, and its fields' JSON bytes."""
    return len(line.text) + (len(line.fields) + 40 if line.fields is not None else 0)


def detect_level(text: str) -> str | None:
    """Best-effort severity: a JSON level key, a `level=` pair, a level word, or a klog prefix."""
    head = text[:_HEAD] if len(text) > _HEAD else text
    if "\x1b" in head:
        head = _ANSI.sub("", head)
    if head[:1] == "{":
        level = _json_level(head)
        if level is not None:
            return level
    words = head.split(None, _WORDS)
    if len(words) > _WORDS:
        words.pop()  # the rest of the line, unsplit
    for word in words:
        if word[0] in _DIGITS:  # no level starts with a digit (timestamps, ids and counts do)
            continue
        level = _WORD_LEVELS.get(word, _UNKNOWN)
        if level is _UNKNOWN:
            level = _word_level(word, word is words[0])
        if level is not None:
            return level
    return None


def _word_level(word: str, first: bool) -> str | None:
    """The level one word of a line's head names, if any; remembered in _WORD_LEVELS."""
    if len(word) == 5 and word[0] in _KLOG and word[1:].isdigit():  # never remembered: it depends on where
        return _KLOG[word[0]] if first else None  # klog / glog: "E1126 12:00:00.123456 ..." starts a line
    if len(word) > _LONGEST_DECORATED:
        return None
    level = None
    if word.isalpha():  # a plain word (most words): only its case can hide a level
        if len(word) <= _LONGEST_ALIAS:
            level = _LEVEL_ALIASES.get(word.lower())
    elif "=" in word:  # logfmt: level=warn
        key, _, value = word.partition("=")
        if key.lower() in ("level", "lvl", "severity"):
            level = _decorated_level(value)
    else:
        level = _decorated_level(word)
    if len(_WORD_LEVELS) < _WORD_LEVELS_MAX:
        _WORD_LEVELS[word] = level
    return level


def _decorated_level(word: str) -> str | None:
    word = word.strip(_STRIP).lower()
    return _LEVEL_ALIASES.get(word) or _LEVEL_ALIASES.get(word.partition(":")[0])  # INFO:root:msg


def normalise_level(value: str) -> str | None:
    """One of LEVELS for a level name as logs spell it (`WARNING`, `err`, `Info`), else None."""
    return _EXACT_WORDS.get(value) or _LEVEL_ALIASES.get(value.strip().lower())


def _json_level(head: str) -> str | None:
    for key in _JSON_KEYS:
        at = head.find(key)
        if at >= 0:
            value = head[at + len(key) :].lstrip(" :").lstrip('"')
            end = value.find('"')
            return _LEVEL_ALIASES.get(value[:end].lower()) if end > 0 else None
    return None


def leading_time(text: str) -> float | None:
    """The line's own time when it starts with an RFC 3339 timestamp that names its zone.

    Zone-less stamps are left alone: guessing UTC for a workload that logs local time would
    shift its lines by hours, which is worse than showing when they were read.
    """
    if len(text) < 20 or text[4] != "-" or text[10] not in "T " or not text[:4].isdigit():
        return None
    end = text.find(" ", 19)
    try:
        stamp = datetime.fromisoformat(text[:end] if end > 0 else text[:40])
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo is not None else None


def utf8_prefix(raw: bytes, limit: int) -> bytes:
    """At most `limit` bytes of `raw`, never ending inside a UTF-8 sequence (so cutting a long
    line leaves no replacement character behind for the character cut in two)."""
    cut = raw[:limit]
    start = len(cut) - 1
    while start >= 0 and start > len(cut) - 4 and (cut[start] & 0xC0) == 0x80:
        start -= 1  # back to the lead byte of the last character
    if start < 0 or cut[start] < 0xC0:
        return cut  # ASCII, or stray continuation bytes (decoded as replacement characters)
    length = 2 if cut[start] < 0xE0 else 3 if cut[start] < 0xF0 else 4
    return cut if start + length <= len(cut) else cut[:start]
