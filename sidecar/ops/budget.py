"""The global memory budget for held lines, derived from the container's memory limit.

A sidecar that outgrows its container's limit is OOM-killed, and in a pod with a shared limit it
takes the workload's memory first. So every held line (ring buffers of all sources, and what slow
clients still have queued) comes out of one budget, sized from the cgroup limit when there is one.
"""

from __future__ import annotations

from pathlib import Path

MIB = 1 << 20
# What the process costs before it holds a line: interpreter, libraries, sockets, metrics.
BASE_BYTES = 48 * MIB
# Share of what is left that lines may use: the rest is slack for Python's allocator and bursts.
LIMIT_SHARE = 0.5
FIXED_DEFAULT_BYTES = 256 * MIB  # no cgroup limit (a laptop, a pod without limits)
SMALLEST_BYTES = 4 * MIB
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a huge number (9223372036854771712)


def cgroup_memory_limit(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The container's memory limit in bytes: cgroup v2 `memory.max`, else v1
    `memory/memory.limit_in_bytes`; None when unlimited or unreadable."""
    for candidate in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = candidate.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _UNLIMITED else None
    return None


def default_budget(limit: int | None) -> int:
    """Half of the limit above the base cost, or a fixed default without a limit."""
    if limit is None:
        return FIXED_DEFAULT_BYTES
    return max(SMALLEST_BYTES, int((limit - BASE_BYTES) * LIMIT_SHARE))


def describe(budget: int, configured: bool, limit: int | None) -> str:
    """One log line saying where the budget came from."""
    if configured:
        return f"buffer budget {budget / MIB:.0f} MiB (LOG_SIDECAR_BUFFER_TOTAL_BYTES)"
    if limit is None:
        return f"buffer budget {budget / MIB:.0f} MiB (no cgroup memory limit found: fixed default)"
    return (f"buffer budget {budget / MIB:.0f} MiB ({LIMIT_SHARE:.0%} of the cgroup memory limit "
            f"{limit / MIB:.0f} MiB above a {BASE_BYTES / MIB:.0f} MiB base)")
