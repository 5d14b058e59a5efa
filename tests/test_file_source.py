"""The file source, driven through the real server: files written on disk, lines read on /api/stream.

A few pure tests of the line splitter and of the inotify fallback sit at the end; they pin
edge cases that are slow or impossible to set up from outside.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.config import Settings
from sidecar.hub import Batch, Hub, SourceChange
from sidecar.ops.metrics import Metrics
from sidecar.sources import files
from sidecar.sources.files import FileSource, FileSourceError, LineSplitter, source_id_candidates
from tests.support.server import SidecarProcess, run_coroutine
from tests.support.sse import WAIT, StreamClient, lines_of, texts_of
from tests.support.writer import LogrotateWriter, RotatingWriter, append, numbered, write_late

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def serve(sidecar, logs: Path) -> Callable[..., SidecarProcess]:
    """Start the sidecar on `logs/*.log` with extra LOG_SIDECAR_* settings."""

    def start(wrapper: list[str] | None = None, **settings: object) -> SidecarProcess:
        env = {"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
        env.update({f"LOG_SIDECAR_{key.upper()}": str(value) for key, value in settings.items()})
        return sidecar(env=env, wrapper=wrapper)

    return start


@pytest.fixture
def live(logs: Path) -> Iterator[Callable[..., StreamClient]]:
    """Open a stream and return once it is live: a probe line written after connecting came
    through. Source events are not backfilled, so tests that expect one need this."""
    streams: list[StreamClient] = []

    def open_stream(server: SidecarProcess, **params: str | int) -> StreamClient:
        stream = StreamClient(server.url, {"tail": 0, **params})
        streams.append(stream)
        stream.start()
        probe = logs / "probe.log"
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            append(probe, "probe\n")
            try:
                stream.until(lambda kind, data: kind == "line" and data["source"] == "probe.log", timeout=0.1)
                return stream
            except AssertionError:
                if stream.ended or stream.error:
                    raise
        raise AssertionError("stream never went live")

    yield open_stream
    for stream in streams:
        stream.close()


def sources(server: SidecarProcess) -> dict[str, dict]:
    response = httpx.get(server.url + "/api/sources", timeout=5)
    response.raise_for_status()
    return {record["id"]: record for record in response.json()["sources"]}


def wait_until(check: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# --- end to end ---


def test_live_lines_arrive_and_the_file_is_followed(serve, live, logs: Path) -> None:
    server = serve()
    stream = live(server)
    append(logs / "app.log", "first line\nsecond line\n")
    items = stream.until_line("second line")
    assert texts_of(items, "app.log") == ["first line", "second line"]
    record = sources(server)["app.log"]
    assert (record["kind"], record["state"], record["target"]) == ("file", "following", str(logs / "app.log"))
    assert record["bytes_seen"] == len("first line\nsecond line\n")


def test_existing_file_is_read_from_its_last_bytes_at_a_line_start(sidecar, logs: Path) -> None:
    (logs / "app.log").write_bytes(b"".join(b"line %04d\n" % n for n in range(100)))  # 10 bytes a line
    server = sidecar(env={"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_START_BYTES": "55"})
    wait_until(lambda: sources(server)["app.log"]["lines_held"] == 5)
    held = httpx.get(server.url + "/api/lines", params={"source": "app.log"}, timeout=5).json()["lines"]
    # 55 bytes back is mid-line 94: that half line is skipped.
    assert [line["text"] for line in held] == [f"line {n:04d}" for n in range(95, 100)]


@pytest.mark.parametrize(
    ("watch", "pause"),
    [("auto", 0.0002), ("poll", 0.0006)],
    ids=["inotify", "poll"],
)
def test_rename_rotation_delivers_every_line_once_in_order(serve, live, logs: Path, watch: str, pause: float) -> None:
    server = serve(watch=watch, poll_interval=0.05, rotate_wait=1)
    stream = live(server)
    writer = RotatingWriter(logs / "app.log", total=3000, rotate_every=500, late_lines=3, pause=pause)
    writer.start()
    items = stream.until_line("n=002999", timeout=30)
    writer.join(5)
    assert writer.error is None and writer.rotations == 5
    numbers = [int(text[2:]) for text in texts_of(items, "app.log")]
    assert numbers == list(range(3000))
    rotated = [data for kind, data in items if kind == "source" and data["change"] == "rotated"]
    assert len(rotated) == writer.rotations
    assert all(data["source"] == "app.log" for data in rotated)


def metric(server: SidecarProcess, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when the series does not exist)."""
    text = httpx.get(server.url + "/metrics", timeout=5).text
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") and line[len(name) + 1 : line.index("}")] == wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_rotations_faster_than_the_poll_are_found_by_inode_and_read(serve, live, logs: Path) -> None:
    # Polling only, every 0.25 s; the workload rotates every 0.1 s (logrotate, 5 generations):
    # two or three files pass through the path between two looks and are only found beside it.
    server = serve(watch="poll", poll_interval=0.25, rotate_wait=0.5)
    stream = live(server)
    writer = LogrotateWriter(logs / "app.log", total=10_000, rate=5000, rotate_seconds=0.1, keep=5)
    writer.start()
    items = stream.until_line(numbered(9_999).decode().strip(), timeout=40)
    writer.join(5)
    assert writer.error is None and writer.rotations >= 15
    numbers = [int(text[2:]) for text in texts_of(items, "app.log")]
    assert numbers == list(range(10_000))
    assert sources(server)["app.log"]["watch"] == "poll"
    assert metric(server, "log_sidecar_watch_mode", source="app.log", mode="poll") == 1


def test_watch_mode_is_reported_per_source(serve, live, logs: Path) -> None:
    server = serve()
    live(server)
    assert sources(server)["app.log"]["watch"] == "inotify"
    assert metric(server, "log_sidecar_watch_mode", source="app.log", mode="inotify") == 1


def _rotate_by_rename(log: Path) -> int:
    """Rename `log` to .1 keeping it open for writing, as a logger that reopens late does."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.rename(log, log.with_name(log.name + ".1"))
    append(log, "")  # the new file
    return fd


def test_a_rotated_file_stays_open_while_it_is_still_written(serve, live, logs: Path) -> None:
    # Closed after 1 s of quiet, not 1 s after the rename: writes every 0.2 s for 3 s all arrive.
    server = serve(rotate_wait=1, rotate_wait_max=30, poll_interval=0.05)
    stream = live(server)
    log = logs / "app.log"
    append(log, numbered(0))
    items = stream.until_line("n=000000")
    fd = _rotate_by_rename(log)
    try:
        last = write_late(fd, 1, 15, pause=0.2)
    finally:
        os.close(fd)
    append(log, numbered(last))
    items += stream.until_line(numbered(last).decode().strip())
    assert [int(t[2:]) for t in texts_of(items, "app.log")] == list(range(last + 1))


def test_late_writes_after_the_cap_are_counted_as_lost_with_a_gap(serve, live, logs: Path) -> None:
    server = serve(rotate_wait=1, rotate_wait_max=1.5, poll_interval=0.05)
    stream = live(server)
    log = logs / "app.log"
    append(log, numbered(0))
    stream.until_line("n=000000")
    fd = _rotate_by_rename(log)
    try:
        written = write_late(fd, 1, 30, pause=0.1)  # 3 s of writes: closed at 1.5 s
    finally:
        os.close(fd)

    def accounted() -> bool:
        received = len(stream.texts("app.log"))
        return received + metric(server, "log_sidecar_lines_lost_total", source="app.log", reason="rotated-unread") == written

    wait_until(accounted)
    lost = metric(server, "log_sidecar_lines_lost_total", source="app.log", reason="rotated-unread")
    assert 0 < lost < 30
    gaps = [gap for gap in stream.gaps() if gap["source"] == "app.log"]
    assert {g["reason"] for g in gaps} == {"rotated-unread"} and sum(g["missed"] for g in gaps) == lost
    assert sources(server)["app.log"]["lines_lost"] == lost


def test_a_repointed_symlink_is_followed_by_inotify(serve, live, logs: Path) -> None:
    # The poll is 60 s away: only inotify on the targets' directory can bring data.2's lines.
    data = logs.parent / "data"
    data.mkdir()
    (logs / "app.log").unlink()
    append(data / "data.1", "")
    (logs / "app.log").symlink_to(data / "data.1")
    server = serve(poll_interval=60, rotate_wait=0.2, rotate_wait_max=0.5)
    stream = live(server)
    append(data / "data.1", "to data.1\n")
    stream.until_line("to data.1")
    append(data / "data.2", "")
    (logs / "tmp-link").symlink_to(data / "data.2")
    os.rename(logs / "tmp-link", logs / "app.log")  # ln -sfn: one atomic re-point
    append(data / "data.2", "to data.2\n")
    stream.until_line("to data.2")
    time.sleep(1.0)  # data.1 is closed by now: nothing else keeps waking the tailer
    append(data / "data.2", "still data.2\n")
    items = stream.until_line("still data.2")
    assert texts_of(items, "app.log") == ["still data.2"]


def test_copytruncate_is_announced_and_the_file_restarts_at_zero(serve, live, logs: Path) -> None:
    server = serve()
    stream = live(server)
    log = logs / "app.log"
    append(log, "".join(f"before {n} with some padding\n" for n in range(10)))
    stream.until_line("before 9 with some padding")
    shutil.copy(log, logs / "app.log.1")
    os.truncate(log, 0)
    append(log, "after 0\nafter 1\n")
    items = stream.until_line("after 1")
    mine = [(kind, data.get("change") or data.get("text")) for kind, data in items if data.get("source") == "app.log"]
    assert mine == [("source", "truncated"), ("line", "after 0"), ("line", "after 1")]


def test_truncate_then_refill_past_the_old_offset_between_polls_is_seen(serve, live, logs: Path) -> None:
    # Polling only, slowly: the truncate and the refill both land between two looks, and the
    # refilled file is longer than the old offset, so only the content check can notice.
    server = serve(watch="poll", poll_interval=1.0)
    stream = live(server)
    log = logs / "app.log"
    append(log, "old one\nold two\n")
    stream.until_line("old two")
    with open(log, "wb") as handle:  # truncates
        handle.write(b"".join(b"refilled line %d\n" % n for n in range(5)))
    items = stream.until_line("refilled line 4")
    assert any(kind == "source" and data["change"] == "truncated" for kind, data in items)
    assert texts_of(items, "app.log") == [f"refilled line {n}" for n in range(5)]


def test_truncate_and_refill_with_fixed_width_lines_delivers_every_line(serve, live, logs: Path) -> None:
    # Fixed-width numbered lines with a constant tail longer than any window before the offset:
    # the bytes just before the old offset look the same after the refill; only the head differs.
    server = serve(watch="poll", poll_interval=1.0)
    stream = live(server)
    log = logs / "app.log"
    line = lambda n: b"%06d " % n + b"x" * 60 + b"\n"  # noqa: E731
    append(log, b"".join(line(n) for n in range(10)))
    items = stream.until_line("000009 " + "x" * 60)
    with open(log, "wb") as handle:  # truncate and refill past the old offset in one write
        handle.write(b"".join(line(n) for n in range(10, 40)))
    items += stream.until_line("000039 " + "x" * 60)
    numbers = [int(text[:6]) for text in texts_of(items, "app.log")]
    assert sorted(numbers) == list(range(40)) and len(set(numbers)) == 40
    assert any(kind == "source" and data["change"] == "truncated" for kind, data in items)


def test_partial_line_is_held_until_its_newline(serve, live, logs: Path) -> None:
    server = serve(partial_flush=30)
    stream = live(server)
    log = logs / "app.log"
    append(log, "hel")
    time.sleep(0.2)  # let the source read the half line on its own
    append(log, "lo wor")
    time.sleep(0.2)
    append(log, "ld\nnext\n")
    items = stream.until_line("next")
    assert texts_of(items, "app.log") == ["hello world", "next"]


def test_partial_line_is_flushed_after_partial_flush(serve, live, logs: Path) -> None:
    server = serve(partial_flush=0.3)
    stream = live(server)
    log = logs / "app.log"
    append(log, "no newline yet")
    items = stream.until_line("no newline yet")
    assert texts_of(items, "app.log") == ["no newline yet"]
    # Its newline comes later: it ends the flushed line, it does not make an empty one.
    append(log, "\nnext\n")
    assert texts_of(stream.until_line("next"), "app.log") == ["next"]


def test_long_line_is_cut_marked_and_the_tailer_goes_on(serve, live, logs: Path) -> None:
    server = serve(max_line_bytes=65536)
    stream = live(server)
    log = logs / "app.log"
    for _ in range(10):  # a 1 MB line in ten writes: the cut happens while it is still growing
        append(log, "x" * 100_000)
    append(log, "\nafter the long line\n")
    items = stream.until_line("after the long line")
    long_line, after = lines_of(items, "app.log")
    assert long_line["truncated"] is True and long_line["text"] == "x" * 65536
    assert after["truncated"] is False
    metrics = httpx.get(server.url + "/metrics", timeout=5).text
    assert re.search(r'log_sidecar_lines_truncated_total\{source="app.log"\} 1\.0', metrics)


def test_invalid_utf8_nul_and_crlf_are_delivered_as_text(serve, live, logs: Path) -> None:
    server = serve()
    stream = live(server)
    append(logs / "app.log", b"bad \xff\xfe end\nnul \x00 here\r\ncut \xe2\x82\n" + "ünïcödé ✓\n".encode())
    items = stream.until_line("ünïcödé ✓")
    assert texts_of(items, "app.log") == ["bad \ufffd\ufffd end", "nul \x00 here", "cut \ufffd", "ünïcödé ✓"]
    assert sources(server)["app.log"]["state"] == "following"


def test_file_created_after_start_is_added_and_read_whole(serve, live, logs: Path) -> None:
    server = serve()
    stream = live(server)
    append(logs / "later.log", "one\ntwo\n")
    append(logs / "ignored.txt", "not a match\n")
    items = stream.until(lambda kind, data: kind == "line" and data["text"] == "two")
    assert ("source", "added") in [(kind, data.get("change")) for kind, data in items if data["source"] == "later.log"]
    assert texts_of(items, "later.log") == ["one", "two"]
    assert sources(server)["later.log"]["target"] == str(logs / "later.log")
    assert not any("ignored" in source for source in sources(server))


def test_deleted_file_is_removed_then_followed_again_when_it_returns(serve, live, logs: Path) -> None:
    server = serve(rotate_wait=0.2)
    stream = live(server)
    log = logs / "app.log"
    append(log, "last words\n")
    stream.until_line("last words")
    log.unlink()
    stream.until_change("app.log", "removed")
    assert sources(server)["app.log"]["state"] == "ended"
    append(log, "back again\n")
    items = stream.until_line("back again")
    assert ("source", "reconnected") in [(kind, data.get("change")) for kind, data in items]
    wait_until(lambda: sources(server)["app.log"]["state"] == "following")


def test_poll_mode_follows_lines_and_new_files(serve, live, logs: Path) -> None:
    server = serve(watch="poll", poll_interval=0.05)
    stream = live(server)
    append(logs / "app.log", "polled line\n")
    append(logs / "new.log", "new file line\n")
    wanted = {("app.log", "polled line"), ("new.log", "new file line")}
    got: set[tuple[str, str]] = set()

    def both_seen(kind: str, data: dict) -> bool:
        if kind == "line":
            got.add((data["source"], data["text"]))
        return wanted <= got

    stream.until(both_seen)
    assert sources(server)["new.log"]["state"] == "following"


def test_a_pattern_that_matches_nothing_is_warned_about_at_start(sidecar, logs: Path) -> None:
    empty = logs / "nothing-here" / "*.txt"
    server = sidecar(env={"LOG_SIDECAR_FILES": f"{logs / '*.log'},{empty}"})
    wait_until(lambda: any("matches no file yet" in line for line in server.output))
    warned = [line for line in server.output if "matches no file yet" in line]
    assert len(warned) == 1 and str(empty) in warned[0] and "WARNING" in warned[0]


def test_same_file_name_in_two_directories_gets_two_readable_ids(sidecar, tmp_path: Path) -> None:
    for name in ("api", "web"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.log").write_text(f"hello from {name}\n")
    server = sidecar(env={"LOG_SIDECAR_FILES": str(tmp_path / "*" / "app.log")})
    found = sources(server)
    assert {found[i]["target"] for i in ("app.log", "web-app.log")} == {
        str(tmp_path / "api" / "app.log"),
        str(tmp_path / "web" / "app.log"),
    }


def test_only_regular_files_matching_the_glob_are_opened(serve, live, logs: Path) -> None:
    os.mkfifo(logs / "pipe.log")  # opening it for reading would block a naive tailer forever
    (logs / "dir.log").mkdir()
    (logs / "link.log").symlink_to(logs / "target.txt")
    (logs / "target.txt").write_text("through the link\n")
    server = serve()
    stream = live(server)
    append(logs / "app.log", "still alive\n")
    stream.until_line("still alive")
    found = sources(server)
    assert "pipe.log" not in found and "dir.log" not in found and "target.txt" not in found
    assert found["link.log"]["state"] == "following"  # the glob matched the link: followed


# Root reads files whatever their mode: as root, the sidecar runs without the capabilities that
# bypass file permissions (as in a pod that drops ALL capabilities).
AS_UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@pytest.mark.skipif(AS_UNPRIVILEGED != [] and shutil.which("setpriv") is None, reason="root, and no setpriv")
def test_unreadable_file_is_an_error_until_it_becomes_readable(serve, live, logs: Path) -> None:
    locked = logs / "locked.log"
    locked.write_text("secret\n")
    locked.chmod(0)
    server = serve(wrapper=AS_UNPRIVILEGED)
    stream = live(server)
    wait_until(lambda: sources(server).get("locked.log", {}).get("state") == "error")
    assert "ermission denied" in sources(server)["locked.log"]["error"]
    locked.chmod(0o644)
    assert texts_of(stream.until_line("secret"), "locked.log") == ["secret"]


# --- in process: the splitter and the watcher fallback ---


def feed_all(splitter: LineSplitter, *chunks: bytes) -> list[tuple[str, bool]]:
    out = []
    for chunk in chunks:
        out += [(line.text, line.truncated) for line in splitter.feed(chunk, 0.0)]
    return out


def test_splitter_joins_lines_across_reads_and_strips_one_cr() -> None:
    splitter = LineSplitter("s", 256)
    assert feed_all(splitter, b"a", b"b\r", b"\nc\r\r\n", b"\n") == [("ab", False), ("c\r", False), ("", False)]


def test_splitter_memory_stays_bounded_on_a_line_without_newline() -> None:
    splitter = LineSplitter("s", 1000)
    out = feed_all(splitter, *([b"y" * 65536] * 64))  # 4 MiB, no newline
    assert out == [("y" * 1000, True)]
    assert splitter.partial == b"" and splitter.skipping
    assert feed_all(splitter, b"yyy\nnext\n") == [("next", False)]
    assert splitter.truncated == 1


def test_splitter_cuts_long_lines_on_a_character_boundary() -> None:
    splitter = LineSplitter("s", 256)
    out = feed_all(splitter, "é".encode() * 200 + b"\n")  # 400 bytes; the cut falls between two
    assert out == [("é" * 128, True)]
    out = feed_all(splitter, b"a" + "é".encode() * 200 + b"\n")  # byte 256 splits an é
    assert out == [("a" + "é" * 127, True)]
    out = feed_all(splitter, "€".encode() * 100 + b"\n")  # 3-byte chars: 85 fit in 256 bytes
    assert out == [("€" * 85, True)]


def test_source_ids_prefer_the_file_name_then_parent_directories() -> None:
    ids = source_id_candidates("/var/log/pods/ns_web-1/my app:v2.log")
    assert [next(ids) for _ in range(3)] == ["my_app_v2.log", "ns_web-1-my_app_v2.log", "pods-ns_web-1-my_app_v2.log"]
    assert next(source_id_candidates("/logs/..")) == "file.."


def _run_source(settings: Settings, body: Callable[[Hub], object]) -> list[object]:
    """Run a FileSource on a real loop and hub while `body(hub)` (a coroutine) acts on files."""

    async def main() -> list[object]:
        hub = Hub(Metrics(), 1000, 1 << 20, 10_000_000)
        subscription = hub.subscribe(None)
        events: list[object] = []

        async def collect() -> None:
            while True:
                events.extend(await subscription.next_events())

        tasks = [asyncio.create_task(FileSource(settings, hub).run()), asyncio.create_task(collect())]
        try:
            await body(hub)  # type: ignore[misc]
            await asyncio.sleep(0.01)  # let the collector take the last events
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return events

    return run_coroutine(main())


def test_watch_auto_falls_back_to_polling_when_inotify_fails(monkeypatch, tmp_path: Path, caplog) -> None:
    def no_inotify(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(files, "INotify", no_inotify)
    settings = Settings(files=[str(tmp_path / "*.log")], watch="inotify")
    with pytest.raises(FileSourceError, match="instance limit"):
        FileSource(settings, Hub(Metrics(), 10, 1 << 20, 100))

    async def write(hub: Hub) -> None:
        await asyncio.sleep(0.05)
        append(tmp_path / "a.log", "polled\n")
        for _ in range(200):
            if hub.sources.get("a.log") and hub.sources["a.log"].lines_seen:
                return
            await asyncio.sleep(0.02)

    auto = Settings(files=[str(tmp_path / "*.log")], watch="auto", poll_interval=0.05)
    events = _run_source(auto, write)
    texts = [line.text for event in events if isinstance(event, Batch) for line in event.lines]
    assert texts == ["polled"]
    assert any(isinstance(e, SourceChange) and e.change == "added" for e in events)
    assert "polling every" in caplog.text


def test_cancelling_the_source_closes_every_descriptor(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("x\n")
    before = len(os.listdir("/proc/self/fd"))

    async def rotate(hub: Hub) -> None:
        await asyncio.sleep(0.1)
        os.rename(tmp_path / "a.log", tmp_path / "a.log.1")  # kept open for rotate_wait
        append(tmp_path / "a.log", "y\n")
        await asyncio.sleep(0.1)

    _run_source(Settings(files=[str(tmp_path / "*.log")], rotate_wait=30), rotate)
    assert len(os.listdir("/proc/self/fd")) == before


def test_unreadable_file_is_an_error_then_reconnected(monkeypatch, tmp_path: Path) -> None:
    locked = tmp_path / "locked.log"
    locked.write_text("secret\n")
    real_open = os.open
    allowed = threading.Event()

    def guarded_open(path, *args, **kwargs):  # what EACCES looks like to a non-root sidecar
        if str(path) == str(locked) and not allowed.is_set():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    seen: dict[str, object] = {}

    async def unlock(hub: Hub) -> None:
        for _ in range(200):
            if "locked.log" in hub.sources and hub.sources["locked.log"].state == "error":
                break
            await asyncio.sleep(0.01)
        seen["error"] = hub.sources["locked.log"].error
        allowed.set()
        for _ in range(200):
            if hub.sources["locked.log"].lines_seen:
                break
            await asyncio.sleep(0.01)
        seen["state"] = hub.sources["locked.log"].state

    events = _run_source(Settings(files=[str(tmp_path / "*.log")], poll_interval=0.05), unlock)
    assert seen == {"error": f"cannot open {locked}: Permission denied", "state": "following"}
    changes = [e.change for e in events if isinstance(e, SourceChange)]
    assert changes == ["added", "error", "reconnected"]
    assert [line.text for e in events if isinstance(e, Batch) for line in e.lines] == ["secret"]


def test_a_huge_file_does_not_hold_back_another_file(tmp_path: Path) -> None:
    async def write_both(hub: Hub) -> None:
        await asyncio.sleep(0.05)
        (tmp_path / "big.log").write_bytes(b"b" * 99 + b"\n" * 1 + (b"b" * 99 + b"\n") * 200_000)  # 20 MB
        append(tmp_path / "small.log", "small\n")
        for _ in range(500):
            if "big.log" in hub.sources and hub.sources["big.log"].lines_seen == 200_001:
                return
            await asyncio.sleep(0.01)

    events = _run_source(Settings(files=[str(tmp_path / "*.log")], buffer_lines=1000), write_both)
    batches = [e for e in events if isinstance(e, Batch)]
    order = [b.source for b in batches]
    assert sum(len(b.lines) for b in batches if b.source == "big.log") == 200_001
    assert order.index("small.log") < len(order) - 1 - order[::-1].index("big.log")  # before big's end
    assert order.index("small.log") <= 2  # within a chunk or two of big's first


def test_the_run_loop_wakeup_returns_when_set_or_at_its_deadline() -> None:
    """The flag FileSource sleeps on: set before the sleep, set during it, or neither."""
    from sidecar.sources.files import Wakeup

    async def main() -> tuple[float, float, float, bool]:
        loop = asyncio.get_running_loop()
        wake = Wakeup()
        wake.set()
        start = loop.time()
        await wake.wait_until(loop, start + 5)  # already set: at once
        already = loop.time() - start
        wake.clear()
        start = loop.time()
        await wake.wait_until(loop, start + 0.05)  # nobody sets it: the deadline
        deadline = loop.time() - start
        start = loop.time()
        loop.call_later(0.02, wake.set)
        await wake.wait_until(loop, start + 5)  # set while sleeping
        woken = loop.time() - start
        return already, deadline, woken, wake.is_set

    already, deadline, woken, is_set = run_coroutine(main())
    assert already < 0.01
    assert 0.045 <= deadline < 1
    assert 0.015 <= woken < 1 and is_set
