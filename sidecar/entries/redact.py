"""Redaction of secrets at ingest, before a line reaches the ring buffer.

Rules are RE2 (linear time). The hot path is one search of the combined rules over the whole
batch joined by newlines: a batch without any candidate (the common case) costs one C call.
Only lines with a candidate go through the rules one by one. A rule either replaces its whole
match or, when it has a capture group, only the group (`password=[REDACTED:password]` keeps
the key, so the line still reads well and logfmt/JSON stay parseable).

PEM private key blocks span lines: from a `-----BEGIN ... PRIVATE KEY-----` line without its
END, every following line is replaced whole until the END line (at most PEM_MAX_LINES).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable

import re2

from sidecar.regex import OPTIONS as _OPTIONS
from sidecar.regex import compile_re2
PEM_MAX_LINES = 200
_SECRET_KEY = r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|credentials?)"

# (name, pattern). Specific token shapes first, the generic key=value pairs last, so a JWT in
# `token=eyJ...` is reported as a jwt. Each pattern's group 1, when present, is what is replaced.
DEFAULT_RULES: tuple[tuple[str, str], ...] = (
    ("pem", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END[A-Z0-9 ]*PRIVATE KEY-----|.*)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ("authorization", r"(?i)\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|negotiate|aws4-hmac-sha256)\s+)?([^\s\"',;]+)"),
    ("bearer", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)"),
    ("aws-access-key-id", r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b"),
    ("aws-secret-access-key", r"(?i)aws_?secret(?:_?access)?_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}|\bya29\.[0-9A-Za-z_-]{20,}"),
    ("url-credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"']*:([^/\s@\"']+)@"),
    ("secret", r"(?i)\"" + _SECRET_KEY + r"\"\s*:\s*\"((?:[^\"\\]|\\.)*)\""),
    ("secret", r"(?i)\b" + _SECRET_KEY + r"\b\s*[=:]\s*(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&\"'\]\[]+)"),
)
_PEM_BEGIN = "-----BEGIN"
_PEM_END = re2.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY-----", _OPTIONS)
_PEM_OPEN = re2.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----", _OPTIONS)


def compile_rule(name: str, pattern: str) -> re2._Regexp:
    """A rule's RE2; ValueError naming the rule when it does not compile."""
    return compile_re2(pattern, f"redact rule {name!r}: invalid RE2 pattern")


class Redactor:
    """Replaces secrets in a batch of texts; counts replacements per rule."""

    def __init__(self, rules: list[tuple[str, str]]) -> None:
        self.rules = [(name, compile_rule(name, pattern)) for name, pattern in rules]
        self.names = list(dict.fromkeys(name for name, _ in self.rules))
        self._any = compile_rule("(combined)", "|".join(f"(?:{p})" for _, p in rules)) if rules else None
        self._pem = any(name == "pem" for name, _ in rules)
        self.in_pem = 0  # lines of an open PEM block replaced so far (0: not in a block)

    def redact(self, texts: list[str], counts: dict[str, int]) -> list[int]:
        """Redacts `texts` in place; returns the indexes of lines inside a multi-line PEM block
        (after its first line: they belong to the entry of the BEGIN line)."""
        if self._any is None:
            return []
        joined = "\n".join(texts) if len(texts) > 1 else texts[0]
        starts: list[int] | None = None
        candidates: set[int] = set()
        if self.in_pem:
            candidates.add(0)
        for match in self._any.finditer(joined):
            if starts is None:
                starts = _line_starts(texts)
            candidates.add(bisect_right(starts, match.start()) - 1)
        if not candidates:
            return []
        if self._pem and _PEM_BEGIN in joined or self.in_pem:
            return self._sequential(texts, candidates, counts)
        for index in candidates:
            texts[index] = self._apply(texts[index], counts)
        return []

    def _sequential(self, texts: list[str], candidates: set[int], counts: dict[str, int]) -> list[int]:
        """Line by line, for batches where a PEM block may open or continue. A block counts
        once, on its BEGIN line."""
        inside: list[int] = []
        for index, text in enumerate(texts):
            if self.in_pem:
                inside.append(index)
                end = _PEM_END.search(text)
                self.in_pem = 0 if end is not None or self.in_pem >= PEM_MAX_LINES else self.in_pem + 1
                texts[index] = "[REDACTED:pem]" + (text[end.end() :] if end is not None else "")
            elif index in candidates:
                opened = _PEM_OPEN.search(text) is not None and _PEM_END.search(text) is None
                texts[index] = self._apply(text, counts)
                self.in_pem = 1 if opened else 0
        return inside

    def _apply(self, text: str, counts: dict[str, int]) -> str:
        for name, regex in self.rules:
            text, count = regex.subn(_replacer(name, regex.groups), text)
            if count:
                counts[name] = counts.get(name, 0) + count
        return text


def _replacer(name: str, groups: int) -> Callable:
    tag = f"[REDACTED:{name}]"

    def replace(match) -> str:
        if groups == 0 or match.start(1) < 0:
            return tag
        whole, start = match.group(0), match.start(0)
        secret = match.group(1)
        if secret.startswith(("[REDACTED:", '"[REDACTED:')):
            return whole  # already replaced by a more specific rule
        quoted = secret[:1] in "\"'" and len(secret) > 1 and secret[-1] == secret[0]
        inner = secret[0] + tag + secret[0] if quoted else tag
        return whole[: match.start(1) - start] + inner + whole[match.end(1) - start :]

    return replace


def _line_starts(texts: list[str]) -> list[int]:
    starts, at = [], 0
    for text in texts:
        starts.append(at)
        at += len(text) + 1
    return starts
