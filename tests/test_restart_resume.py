"""Restart resume (LOG_SIDECAR_STATE_DIR): the sidecar is killed with SIGKILL mid-stream while
the workload keeps writing; the restarted sidecar rebuilds its buffers from the files with the
same ids, and a client that reconnects with its Last-Event-ID gets exactly the lines after it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import SidecarProcess
from tests.support.sse import StreamClient
from tests.support.writer import PacedWriter, append, numbered

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def start(sidecar, logs: Path, tmp_path: Path) -> Callable[..., SidecarProcess]:
    def run(**settings: object) -> SidecarProcess:
        env = {
            "LOG_SIDECAR_FILES": str(logs / "*.log"),
            "LOG_SIDECAR_STATE_DIR": str(tmp_path / "state"),
            "LOG_SIDECAR_ACCESS_LOG": "false",
        }
        env.update({f"LOG_SIDECAR_{key.upper()}": str(value) for key, value in settings.items()})
        return sidecar(env=env)

    return run


def kill(server: SidecarProcess) -> None:
    assert server.proc is not None
    server.proc.kill()  # SIGKILL: no shutdown code runs
    server.proc.wait(10)


def last_event_id(stream: StreamClient) -> str:
    return next(event.id for event in reversed(stream.events) if event.id)


def numbers(stream: StreamClient) -> list[int]:
    return [int(text[2:]) for text in stream.texts("app.log")]


def wait_lines(stream: StreamClient, count: int) -> None:
    stream.wait(lambda: len(stream.lines("app.log")) >= count, f"{count} lines", timeout=30)


def read_then_kill(server: SidecarProcess, log: Path, count: int) -> StreamClient:
    """A client that got lines 0..count-1 live, then the sidecar killed: resume from its last id."""
    first = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    append(log, b"".join(numbered(n) for n in range(count)))
    wait_lines(first, count)
    kill(server)
    first.close()
    return first


def resume(server: SidecarProcess, after: str) -> StreamClient:
    return StreamClient(server.url, {"source": "app.log"}, headers={"Last-Event-ID": after}).start()


def test_sigkill_mid_stream_then_restart_resumes_exactly(start, logs: Path) -> None:
    server = start()
    first = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    writer = PacedWriter(logs / "app.log", total=8000, rate=2000)
    writer.start()
    wait_lines(first, 1500)
    kill(server)  # mid-stream: the writer goes on while the sidecar is down
    first.close()
    before = numbers(first)
    after_id = last_event_id(first)
    time.sleep(0.5)
    server = start()
    second = resume(server, after_id)
    try:
        writer.join(20)
        second.until_line(numbered(7999).decode().strip(), timeout=30)
        assert second.gaps() == []
        assert before + numbers(second) == list(range(8000))  # every line once, in order
    finally:
        second.close()


def test_lines_written_while_down_and_a_rotation_meanwhile_are_delivered(start, logs: Path) -> None:
    log = logs / "app.log"
    first = read_then_kill(start(), log, 100)
    append(log, b"".join(numbered(n) for n in range(100, 150)))  # written while down
    os.rename(log, logs / "app.log.1")  # and rotated while down
    append(log, b"".join(numbered(n) for n in range(150, 200)))
    server = start()
    second = resume(server, last_event_id(first))
    try:
        second.until_line(numbered(199).decode().strip())
        assert numbers(first) + numbers(second) == list(range(200))
        assert second.gaps() == []
        # The restored lines are the same lines with the same ids: a new client's backfill shows them.
        held = httpx.get(server.url + "/api/lines", params={"source": "app.log", "limit": 1000}, timeout=5).json()
        ids = {line["text"]: line["id"] for line in held["lines"]}
        assert all(ids[line["text"]] == line["id"] for line in first.lines("app.log"))
    finally:
        second.close()


def test_a_partial_last_line_and_a_cut_long_line_survive_a_restart(start, logs: Path) -> None:
    server = start(partial_flush=0.3, max_line_bytes=256)
    log = logs / "app.log"
    first = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    append(log, "one\n" + "x" * 1000 + "\nhalf")
    first.wait(lambda: first.texts("app.log")[-1:] == ["half"], "the flushed half line")
    kill(server)
    first.close()
    append(log, "\ntwo\n")  # ends the flushed line: no empty line may come of it
    server = start(partial_flush=0.3, max_line_bytes=256)
    second = resume(server, last_event_id(first))
    try:
        second.until_line("two")
        assert first.texts("app.log") == ["one", "x" * 256, "half"]
        assert second.texts("app.log") == ["two"]
        held = httpx.get(server.url + "/api/lines", params={"source": "app.log"}, timeout=5).json()["lines"]
        assert [(line["text"], line["truncated"]) for line in held] == [
            ("one", False), ("x" * 256, True), ("half", False), ("two", False)
        ]
    finally:
        second.close()


def test_corrupt_or_foreign_state_is_discarded_with_a_warning(start, logs: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "checkpoint.journal").write_bytes(b"H log-sidecar-checkpoint 1\nS 1 app.log \"/x\"\nR 1 zz\n")
    server = start()
    assert any("checkpoint" in line and "discarded" in line and "WARNING" in line for line in server.output)
    stream = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    try:
        append(logs / "app.log", "alive\n")
        stream.until_line("alive")
    finally:
        stream.close()
    kill(server)
    (state / "checkpoint.journal").write_bytes(b"\x00\xffnot ours at all")
    server = start()
    assert any("checkpoint" in line and "discarded" in line for line in server.output)


def test_without_a_state_dir_a_resume_across_a_restart_is_a_restart_gap(sidecar, logs: Path) -> None:
    env = {"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_ACCESS_LOG": "false"}
    server = sidecar(env=env)
    first = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    append(logs / "app.log", "before\n")
    first.until_line("before")
    kill(server)
    first.close()
    server = sidecar(env=env)
    second = resume(server, last_event_id(first))
    try:
        second.wait(lambda: second.gaps() != [], "a gap")
        assert second.gaps()[0]["reason"] == "restart"
    finally:
        second.close()


# --- in process: the journal's own bounds ---


def test_the_journal_is_compacted_to_what_the_buffer_holds(tmp_path: Path) -> None:
    from sidecar.checkpoint import COMPACT_MIN, Checkpoint, Run
    from sidecar.hub import Hub
    from sidecar.lines import LogLine
    from sidecar.ops.metrics import Metrics

    hub = Hub(Metrics(), 1000, 1 << 30, 100)
    hub.add_source("app.log", "file", "/logs/app.log")
    journal = Checkpoint(tmp_path, hub)
    journal.begin()
    journal.add_source("app.log", "/logs/app.log")
    journal.record_open("app.log", (1, 2), 0, 0, b"", 0)
    ids = []
    for n in range(3 * COMPACT_MIN):  # one line per publish: one record each
        first_id = hub.next_id()
        journal.record_run("app.log", Run((1, 2), n * 9, n * 9 + 9, first_id, 1, 1.0, 0, False), n * 9 + 9, 0)
        hub.publish("app.log", [LogLine("app.log", "n=%06d" % n, 1.0)], first_id=first_id)
        ids.append(first_id)
    records = (tmp_path / "checkpoint.journal").read_text().count("\n")
    assert records < 1.3 * COMPACT_MIN  # bounded by what is live (1000 runs), not by what was written
    loaded = Checkpoint(tmp_path, Hub(Metrics(), 1000, 1 << 30, 100)).load()["app.log"]
    first_held = hub.sources["app.log"].buffer.first_id
    restored = [run.first_id for run in loaded.runs]
    assert restored == [i for i in ids if i >= restored[0]] and restored[0] <= first_held
    assert loaded.exact_after == ids[ids.index(restored[0]) - 1]  # everything after it is there
    assert (loaded.marks[(1, 2)].pos, loaded.marks[(1, 2)].closed) == (3 * COMPACT_MIN * 9, False)


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    from sidecar.checkpoint import Checkpoint
    from sidecar.hub import Hub
    from sidecar.ops.metrics import Metrics

    hub = Hub(Metrics(), 1000, 1 << 30, 100)
    (tmp_path / "checkpoint.journal").write_text(
        'H log-sidecar-checkpoint 1\nS 1 app.log "/logs/app.log"\nO 1 1 2 0 0 0 0 0\n'
        f"R 1 1 2 0 9 {hub.run_first_id - 100} 1 1.0 0 0 9 0\nR 1 1 2 9 18 {hub.run_first_id - 50} 1 1."
    )
    loaded = Checkpoint(tmp_path, hub).load()["app.log"]
    assert [(run.start, run.end) for run in loaded.runs] == [(0, 9)]


def test_two_restarts_in_a_row_keep_the_same_ids(start, logs: Path) -> None:
    server = start()
    log = logs / "app.log"
    first = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    append(log, b"".join(numbered(n) for n in range(50)))
    wait_lines(first, 50)
    first.close()
    for batch in (1, 2):  # the second restart reads the journal the first one rewrote
        kill(server)
        append(log, b"".join(numbered(n) for n in range(50 * batch, 50 * batch + 50)))
        server = start()
        server_lines = httpx.get(server.url + "/api/lines", params={"source": "app.log"}, timeout=5).json()["lines"]
        assert [line["text"] for line in server_lines][:50] == [numbered(n).decode().strip() for n in range(50)]
    held = httpx.get(server.url + "/api/lines", params={"source": "app.log"}, timeout=5).json()["lines"]
    stream = StreamClient(server.url, {"tail": 0, "source": "app.log"}).start()
    try:
        append(log, numbered(150))
        stream.until_line("n=000150")
    finally:
        stream.close()
    held = httpx.get(server.url + "/api/lines", params={"source": "app.log"}, timeout=5).json()["lines"]
    assert [line["text"] for line in held] == [numbered(n).decode().strip() for n in range(151)]
    assert [line["id"] for line in held[:50]] == [line["id"] for line in first.lines("app.log")]


def test_a_state_dir_that_cannot_be_written_is_a_clear_start_error(logs: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("a file, not a directory\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
    env.update({"LOG_SIDECAR_FILES": str(logs / "*.log"), "LOG_SIDECAR_STATE_DIR": str(not_a_dir), "LOG_SIDECAR_PORT": "0"})
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "serve"], env=env, capture_output=True, text=True, timeout=30,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 2
    assert f"state_dir {not_a_dir} is not writable" in done.stderr and "Traceback" not in done.stderr


def test_a_file_rotated_and_deleted_while_down_is_a_rotated_unread_gap(start, logs: Path) -> None:
    log = logs / "app.log"
    first = read_then_kill(start(), log, 20)
    append(log, b"".join(numbered(n) for n in range(20, 30)))  # never read: gone with its file
    os.rename(log, logs / "app.log.1")
    (logs / "app.log.1").unlink()
    append(log, b"".join(numbered(n) for n in range(30, 40)))
    server = start()
    second = resume(server, last_event_id(first))
    try:
        second.until_line("n=000039")
        assert [(g["source"], g["reason"]) for g in second.gaps()] == [("app.log", "rotated-unread")]
        assert numbers(second) == list(range(30, 40))
    finally:
        second.close()


def test_a_state_dir_in_use_by_another_sidecar_is_not_shared(start, logs: Path) -> None:
    one = start()
    two = start()
    assert any("in use by another sidecar" in line for line in two.output)
    assert not any("in use by another sidecar" in line for line in one.output)
