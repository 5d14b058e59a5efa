"""The unit that flows from sources through the hub to transports, and its parsing stage."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
# Only the head of a line is searched: levels sit near the start, and a bounded scan keeps
# the hot path cheap for megabyte lines.
_HEAD = 200
_JSON_LEVEL = re.compile(r'"(?:level|lvl|severity|loglevel)"\s*:\s*"([A-Za-z]+)"', re.IGNORECASE)
_LOGFMT_LEVEL = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]+)", re.IGNORECASE)
_WORD_LEVEL = re.compile(
    r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)\b", re.IGNORECASE
)
# klog / glog: "E1126 12:00:00.123456 ..."
_KLOG_LEVEL = re.compile(r"^([IWEF])\d{4} \d{2}:\d{2}:\d{2}")
_KLOG = {"I": "info", "W": "warn", "E": "error", "F": "fatal"}


@dataclass(slots=True)
class LogLine:
    """One line of one source. `id` is the hub's event id, 0 until the hub assigns it."""

    source: str
    text: str
    time: float  # Unix seconds: the line's own timestamp when the source has one, else when read
    level: str | None = None
    truncated: bool = False
    id: int = 0

    def to_json(self) -> dict:
        out = {"id": self.id, "source": self.source, "time": self.time, "text": self.text, "level": self.level}
        if self.truncated:
            out["truncated"] = True
        return out


def detect_level(text: str) -> str | None:
    """Best-effort severity of a line: JSON field, logfmt key, klog prefix, then a level word."""
    head = text[:_HEAD]
    match = _JSON_LEVEL.search(head) or _LOGFMT_LEVEL.search(head)
    if match:
        return _LEVEL_ALIASES.get(match.group(1).lower())
    match = _KLOG_LEVEL.match(head)
    if match:
        return _KLOG[match.group(1)]
    match = _WORD_LEVEL.search(head)
    if match:
        return _LEVEL_ALIASES.get(match.group(1).lower())
    return None
