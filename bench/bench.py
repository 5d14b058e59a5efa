"""End-to-end benchmark of the real sidecar against the targets of DESIGN.md section 6.

    .venv/bin/python bench/bench.py [--quick] [--only latency,throughput,fanout,idle,startup] [--json out.json]

Each scenario starts `python -m sidecar serve` as a child process following <tmpdir>/*.log on
127.0.0.1 (ephemeral port, parsed from uvicorn's "Uvicorn running on ..." line), appends lines
to the log file from this process, reads /api/stream with raw-socket SSE clients running in
separate processes (so this process's GIL and the clients' parsing never sit between the
writer and the server), and PRINTS figures next to the targets. Nothing is asserted: a missed
target is printed as MISS and the run goes on. See bench/README.md for what each figure means.

Only the standard library is used, so the script runs in the project venv as is.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SCENARIOS = ("idletax", "latency", "ladder", "fanout", "throughput", "idle", "startup")

# Every bench line: "<seq, 10 digits> <time.monotonic_ns() just before the write> INFO ...padding\n",
# about 100 bytes. CLOCK_MONOTONIC is system-wide on Linux, so a client process compares it
# with its own time.monotonic_ns() when the line arrives.
LINE_BYTES = 100
_PAD = "bench line payload " * 8
# In the SSE JSON: ..."text":"0000000042 123456789 INFO ..."  (our text needs no JSON escaping)
# bench/entries.py's JSON lines start {"seq":"<seq> <ns> ",...: the optional prefix below.
TEXT_RE = re.compile(rb'"text":"(?:\{\\"seq\\":\\")?(\d{10}) (\d+) ')
GAP_RE = re.compile(rb'(?:event: gap\r?\ndata: |: gap )(\{[^\n]*\})')  # json, or format=text's comment
LINE_TOKEN = b'"text":"'  # once in every line object of a `lines` event (bench texts never hold it)
TEXT_TOKEN = b"data: "  # once in every event of format=text (gap/source events are comments there)
FIRST_SEQ_JSON = re.compile(rb'"text":"(\d{10}) ')
FIRST_SEQ_TEXT = re.compile(rb"data: (\d{10}) ")


def make_line(seq: int, now_ns: int) -> bytes:
    head = f"{seq:010d} {now_ns} INFO "
    return (head + _PAD[: LINE_BYTES - 1 - len(head)] + "\n").encode()


# --------------------------------------------------------------------------- machine / process


def machine_description() -> dict:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
    }


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of one process, in seconds: its threads' run time from
    /proc/PID/task/*/schedstat (nanoseconds), else utime + stime from /proc/PID/stat, which
    counts in clock ticks (10 ms: a tenth of the idle tax's 0.1 s target)."""
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                total += int((task / "schedstat").read_text().split()[0])
        if total:
            return total / 1e9
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_write_calls(pid: int) -> int:
    """write()-family system calls of one process so far (syscw of /proc/PID/io; 0 if unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("syscw:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raise our RLIMIT_NOFILE (children inherit it: the sidecar and the client processes)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --------------------------------------------------------------------------- the sidecar


class Sidecar:
    """`python -m sidecar serve` on 127.0.0.1:0 following <dir>/*.log, like tests/support/server.py."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_SIDECAR_")}
        self.env.update(
            {
                "LOG_SIDECAR_FILES": str(log_dir / "*.log"),
                "LOG_SIDECAR_HOST": "127.0.0.1",
                "LOG_SIDECAR_PORT": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.update(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.output: list[str] = []
        self.started_ns = 0
        self.port_seen_ns = 0
        self._port_seen = threading.Event()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    kind = "sidecar"
    listening = LISTENING
    cwd = REPO  # `python -m sidecar` imports the sidecar package of this directory

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sidecar", "serve"]

    def start(self, timeout: float = 20.0) -> Sidecar:
        cmd = self.command()
        if os.environ.get("BENCH_SIDECAR_PREFIX"):  # e.g. "py-spy record -o /tmp/x.svg --" for profiling
            cmd = os.environ["BENCH_SIDECAR_PREFIX"].split() + cmd
        self.started_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            cmd, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._port_seen.wait(timeout):
            self.stop()
            raise RuntimeError("sidecar did not start:\n" + "".join(self.output[-40:]))
        return self

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if len(self.output) < 5000:  # bounded: an access-log flood must not eat our memory
                self.output.append(line)
            if not self._port_seen.is_set():
                match = self.listening.search(line)
                if match:
                    self.port = int(match.group(1))
                    self.port_seen_ns = time.monotonic_ns()
                    self._port_seen.set()

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 20.0, step: float = 0.01) -> float:
        """Poll /readyz until 200; returns seconds since the process was started."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                status, body = self.get("/readyz", timeout=2)
                if status == 200:
                    return (time.monotonic_ns() - self.started_ns) / 1e9
                last = (status, body[:200])
            except OSError as error:
                last = error
            time.sleep(step)
        raise RuntimeError(f"sidecar not ready: {last!r}\n" + "".join(self.output[-40:]))

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        return body.decode() if status == 200 else ""

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmRSS") / 1024

    def hwm_mb(self) -> float:
        return proc_status_kb(self.pid, "VmHWM") / 1024

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Bare(Sidecar):
    """bench/bare.py, the reference streamer, following <dir>/bench.log (same interface)."""

    kind = "bare"
    listening = re.compile(r"bare streamer listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(log_dir, env)
        self.log = log_dir / "bench.log"

    def command(self) -> list[str]:
        return [sys.executable, str(REPO / "bench" / "bare.py"), "--file", str(self.log), "--port", "0"]

    def metrics(self) -> str:
        return ""


class Floor(Sidecar):
    """bench/floor.py, the chosen stack serving next to nothing (idle RSS only)."""

    kind = "floor"
    listening = re.compile(r"stack floor listening on 127\.0\.0\.1:(\d+)")

    def command(self) -> list[str]:
        return [sys.executable, str(REPO / "bench" / "floor.py"), "--port", "0"]

    def metrics(self) -> str:
        return ""


def compile_bytecode(directory: Path) -> None:
    """Byte-compile a checkout's sidecar package, as `pip install` does in the image. Without
    it (PYTHONDONTWRITEBYTECODE, a fresh checkout) every start compiles each module from source,
    which leaves about 3 MB more RSS than the installed sidecar has."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(directory / "sidecar")],
                   check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class RssSampler:
    """Samples the sidecar's VmRSS every `every` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        self.pid = pid
        self.every = every
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(self.every)

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's main thread (the event loop) spent runnable but waiting for a CPU."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    return 0.0


class Window:
    """CPU accounting over a measured window: the sidecar, its wait for a CPU, and the rest of
    the machine (other processes compete with the sidecar on a small machine: shown, not hidden)."""

    def __init__(self, sidecar_pid: int) -> None:
        self.pid = sidecar_pid

    def __enter__(self) -> Window:
        self.t0 = time.monotonic()
        self.cpu0 = proc_cpu_seconds(self.pid)
        self.wait0 = runqueue_wait_seconds(self.pid)
        self.busy0 = machine_busy_seconds()
        self.self0 = proc_cpu_seconds(os.getpid())
        self.writes0 = proc_write_calls(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.t0
        self.cpu = proc_cpu_seconds(self.pid) - self.cpu0
        self.wait = runqueue_wait_seconds(self.pid) - self.wait0
        self.busy = machine_busy_seconds() - self.busy0
        self.bench_self = proc_cpu_seconds(os.getpid()) - self.self0
        self.writes = proc_write_calls(self.pid) - self.writes0

    def others(self, client_cpu: float) -> float:
        """CPU seconds used by processes that are neither the sidecar nor this bench."""
        return max(0.0, self.busy - self.cpu - client_cpu - self.bench_self)

    def report(self, report: Report, scenario: str, client_cpu: float | None) -> None:
        w = max(self.wall, 1e-9)
        report.figure(scenario, "sidecar CPU (of one core)", f"{self.cpu / w * 100:.0f} % ({self.cpu:.2f} s in {w:.1f} s)")
        report.figure(scenario, "sidecar loop thread waiting for a CPU", f"{self.wait / w * 100:.0f} % of the time")
        report.figure(scenario, "sidecar write() calls (sockets and files)", f"{self.writes} ({self.writes / w:.0f}/s)")
        if client_cpu is not None:
            report.figure(scenario, "client CPU (all client processes)", f"{client_cpu / w * 100:.0f} % ({client_cpu:.2f} s)")
        other = self.others(client_cpu or 0.0)
        ncpu = os.cpu_count() or 1
        report.figure(scenario, "other processes' CPU on the machine",
                      f"{other / w * 100:.0f} % of one core ({ncpu} cores)")
        report.data.setdefault(scenario, {}).update({
            "window_s": w, "sidecar_cpu_s": self.cpu, "sidecar_runqueue_wait_s": self.wait, "sidecar_writes": self.writes,
            "client_cpu_s": client_cpu, "bench_cpu_s": self.bench_self, "other_cpu_s": other})
        if other / w > 0.2:
            report.note("WARNING: other processes used the CPUs during this run: figures are pessimistic")


class Profiler:
    """Optional: `py-spy record` on the sidecar for the measured window (--profile DIR).

    Writes DIR/<scenario>.svg (a flamegraph) or, with --profile-format raw, DIR/<scenario>.raw.txt
    (collapsed stacks) and prints the functions with the most samples of their own."""

    def __init__(self, directory: Path | None, scenario: str, pid: int) -> None:
        self.directory, self.scenario, self.pid = directory, scenario, pid
        self.proc: subprocess.Popen | None = None
        self.out: Path | None = None

    @staticmethod
    def find() -> str | None:
        beside = Path(sys.executable).parent / "py-spy"  # pip install py-spy (the test extras have it)
        return os.environ.get("PY_SPY") or shutil.which("py-spy") or (str(beside) if beside.exists() else None)

    def __enter__(self) -> Profiler:
        spy = self.find()
        if self.directory is None or not spy:
            if self.directory is not None:
                print("  . --profile: py-spy not found (pip install py-spy, or PY_SPY=...), not profiling", flush=True)
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        raw = PROFILE_FORMAT == "raw"
        self.out = self.directory / (f"{self.scenario}.raw.txt" if raw else f"{self.scenario}.svg")
        self.proc = subprocess.Popen([spy, "record", "--pid", str(self.pid), "--format", "raw" if raw else "flamegraph",
                                      "--rate", "250", "--nonblocking", "-o", str(self.out)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            print(f"  . py-spy profile: {self.out}", flush=True)
            if self.out is not None and self.out.suffix == ".txt" and self.out.exists():
                for share, name in top_self(self.out.read_text())[:12]:
                    print(f"  .   {share * 100:5.1f} %  {name}", flush=True)


def top_self(collapsed: str) -> list[tuple[float, str]]:
    """Share of samples per innermost frame, from py-spy's collapsed stacks ("a;b;c 12" lines)."""
    counts: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        counts[leaf] = counts.get(leaf, 0) + int(n)
        total += int(n)
    return sorted(((c / max(1, total), name) for name, c in counts.items()), reverse=True)


PROFILE_DIR: Path | None = None
PROFILE_FORMAT = "svg"
BARE = True  # --no-bare: skip the reference streamer runs
BASELINE: Path | None = None  # --baseline DIR: also run a checkout of another commit (before/after in one run)


def machine_load(max_wait: float, quiet_cores: float = 0.3, sample: float = 0.5) -> tuple[float, float]:
    """CPU cores busy on the machine (everything but this bench) over `sample` s; with `max_wait`,
    keep sampling until it is below `quiet_cores` or the time is up. Returns (cores, waited s)."""
    start = time.monotonic()
    while True:
        busy0, self0 = machine_busy_seconds(), proc_cpu_seconds(os.getpid())
        time.sleep(sample)
        cores = max(0.0, (machine_busy_seconds() - busy0) - (proc_cpu_seconds(os.getpid()) - self0)) / sample
        waited = time.monotonic() - start
        if cores < quiet_cores or waited >= max_wait:
            return cores, waited


# --------------------------------------------------------------------------- client processes
#
# A client process opens `n` raw sockets, sends an HTTP/1.0 GET for /api/stream (HTTP/1.0 so
# the response is not chunked: h11 frames it by connection close), and reads with a selector.
# Modes:
#   latency: every complete SSE event is scanned with one bytes regex for (seq, write time);
#            latency = time.monotonic_ns() when the recv() that completed the event returned
#            minus the write time carried by the line. Seen seqs go into a bitmap (loss,
#            duplicates), gap events are parsed.
#   count:   counts line objects with bytes.count (no JSON parsing); the seq of the last line
#            of each recv is read to check order and the end; used for throughput.
#   idle:    reads and discards (pings only).


@dataclass
class ClientConfig:
    port: int
    n: int
    mode: str  # latency | count | idle
    path: str = "/api/stream?tail=0"
    expected: int = 0  # lines the writer will write (seq 0 .. expected-1)
    hard_deadline: float = 120.0  # seconds after start: stop whatever happens
    quiet_stop: float = 0.0  # count mode: stop after this long with no bytes once some came
    fmt: str = "json"  # ladder mode: which frames to count (json `lines` events, or text `data:` lines)


@dataclass
class SockState:
    sock: socket.socket
    header: bytes = b""
    status: int = 0
    in_body: bool = False
    carry: bytes = b""
    lines: int = 0
    dups: int = 0
    out_of_order: int = 0
    last_seq: int = -1
    gaps: int = 0
    gap_missed: int = 0
    gap_unknown: int = 0
    bytes: int = 0
    closed: bool = False
    error: str = ""
    seen: bytearray = field(default_factory=bytearray)
    first_byte_ns: int = 0
    last_line_ns: int = 0


def _connect(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    sock.setblocking(False)
    return sock


def client_main(conn, cfg: ClientConfig) -> None:  # runs in a child process
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    sel = selectors.DefaultSelector()
    states: list[SockState] = []
    connect_errors: list[str] = []
    for _ in range(cfg.n):
        try:
            sock = _connect(cfg.port, cfg.path)
        except OSError as error:
            connect_errors.append(repr(error))
            continue
        st = SockState(sock, seen=bytearray(cfg.expected) if cfg.mode == "latency" else bytearray())
        states.append(st)
        sel.register(sock, selectors.EVENT_READ, st)
    sel.register(conn.fileno(), selectors.EVENT_READ, None)
    latencies = array("q")
    samples = array("q")  # ladder mode: (seq of the first line, recv time, lines) per recv()
    token = LINE_TOKEN if cfg.fmt == "json" else TEXT_TOKEN
    first_re = FIRST_SEQ_JSON if cfg.fmt == "json" else FIRST_SEQ_TEXT
    ready_sent = False
    last_bytes_at = 0.0
    done = False
    recv = socket.socket.recv
    text_finditer = TEXT_RE.finditer
    now_ns = time.monotonic_ns
    while not done:
        if time.monotonic() - started > cfg.hard_deadline:
            break
        if not ready_sent and all(s.in_body or s.closed for s in states):
            conn.send(("ready", sum(1 for s in states if s.status == 200), connect_errors[:5] + [
                s.error or f"HTTP {s.status}" for s in states if s.status != 200][:5]))
            ready_sent = True
        if cfg.quiet_stop and last_bytes_at and time.monotonic() - last_bytes_at > cfg.quiet_stop:
            break
        for key, _ev in sel.select(timeout=0.2):
            st = key.data
            if st is None:  # message from the parent
                if conn.poll():
                    msg = conn.recv()
                    if msg == "stop":
                        done = True
                continue
            try:
                chunk = recv(st.sock, 1 << 20)
            except BlockingIOError:
                continue
            except OSError as error:
                chunk = b""
                st.error = repr(error)
            t_recv = now_ns()
            if not chunk:
                st.closed = True
                sel.unregister(st.sock)
                st.sock.close()
                if not st.in_body:
                    st.in_body = True
                continue
            last_bytes_at = time.monotonic()
            if not st.in_body:
                st.header += chunk
                end = st.header.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head, chunk = st.header[:end], st.header[end + 4 :]
                st.header = b""
                st.in_body = True
                try:
                    st.status = int(head.split(b" ", 2)[1])
                except (IndexError, ValueError):
                    st.status = -1
                # Chunked framing (uvicorn's httptools protocol uses it even for HTTP/1.0) is
                # harmless here: every chunk is whole SSE frames, and the scans below look for
                # tokens inside frames, never at the framing.
                if not chunk:
                    continue
            st.bytes += len(chunk)
            if not st.first_byte_ns:
                st.first_byte_ns = t_recv
            if cfg.mode == "idle":
                continue
            if cfg.mode == "ladder":
                data = st.carry + chunk
                n = data.count(token)
                if n:
                    st.lines += n
                    st.last_line_ns = t_recv
                    first = first_re.search(data)
                    if first is not None:
                        samples.extend((int(first.group(1)), t_recv, n))
                    pos = data.rfind(token)
                    if len(data) >= pos + len(token) + 10 and data[pos + len(token) : pos + len(token) + 10].isdigit():
                        seq = int(data[pos + len(token) : pos + len(token) + 10])
                        if seq <= st.last_seq:
                            st.out_of_order += 1
                        st.last_seq = seq
                if b"gap" in data:
                    _count_gaps(st, data)
                st.carry = data[-(len(token) - 1) :]  # a token cut in two is counted once
                if cfg.expected and st.lines >= cfg.expected:
                    done = all(s.lines >= cfg.expected or s.closed for s in states)
                continue
            if cfg.mode == "count":
                data = st.carry + chunk
                n = data.count(LINE_TOKEN)
                if n:
                    st.lines += n
                    st.last_line_ns = t_recv
                    pos = data.rfind(b'"text":"')
                    found = TEXT_RE.match(data, pos) if pos >= 0 else None
                    if found is not None:
                        seq = int(found.group(1))
                        if seq <= st.last_seq:
                            st.out_of_order += 1
                        st.last_seq = seq
                if b"event: gap" in data:
                    _count_gaps(st, data)
                st.carry = data[-(len(LINE_TOKEN) - 1) :]
                if cfg.expected and st.lines >= cfg.expected:
                    done = all(s.lines >= cfg.expected or s.closed for s in states)
                continue
            # latency mode: only complete events (ended by a blank line) are scanned
            data = st.carry + chunk if st.carry else chunk
            end = _events_end(data)
            if end < 0:
                st.carry = data
                continue
            st.carry = data[end:]
            events = data[:end]
            seen = st.seen
            last = st.last_seq
            for m in text_finditer(events):
                seq = int(m.group(1))
                latencies.append(t_recv - int(m.group(2)))
                st.lines += 1
                if seq < len(seen):
                    if seen[seq]:
                        st.dups += 1
                    seen[seq] = 1
                if seq <= last:
                    st.out_of_order += 1
                last = seq
            st.last_seq = last
            st.last_line_ns = t_recv
            if b"event: gap" in events:
                _count_gaps(st, events)
            if cfg.expected and last >= cfg.expected - 1:
                done = all(s.last_seq >= cfg.expected - 1 or s.closed for s in states)
    if not ready_sent:
        conn.send(("ready", sum(1 for s in states if s.status == 200), connect_errors[:5]))
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "cpu_s": (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime),
        "wall_s": time.monotonic() - started,
        "latencies": latencies.tobytes(),
        "samples": samples.tobytes(),
        "connect_errors": connect_errors[:5],
        "sockets": [
            {
                "status": s.status,
                "lines": s.lines,
                "unique": sum(s.seen) if s.seen else None,
                "dups": s.dups,
                "out_of_order": s.out_of_order,
                "last_seq": s.last_seq,
                "gaps": s.gaps,
                "gap_missed": s.gap_missed,
                "gap_unknown": s.gap_unknown,
                "bytes": s.bytes,
                "closed": s.closed,
                "error": s.error,
                "first_byte_ns": s.first_byte_ns,
                "last_line_ns": s.last_line_ns,
            }
            for s in states
        ],
    }
    for s in states:
        with contextlib.suppress(OSError):
            s.sock.close()
    conn.send(("result", result))
    conn.close()


def _events_end(data: bytes) -> int:
    """Index just past the last blank line (end of the last complete SSE event), or -1.
    sse-starlette ends lines with CRLF; LF and CR alone are accepted too."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    return max(lf + 2 if lf >= 0 else -1, crlf + 3 if crlf >= 0 else -1)


def _count_gaps(st: SockState, data: bytes) -> None:
    for m in GAP_RE.finditer(data):
        st.gaps += 1
        try:
            missed = json.loads(m.group(1)).get("missed")
        except ValueError:
            missed = None
        if missed is None:
            st.gap_unknown += 1
        else:
            st.gap_missed += int(missed)


_GROUPS: list[ClientGroup] = []  # closed after every scenario, whatever happened


class ClientGroup:
    """`procs` client processes sharing `total` sockets."""

    def __init__(self, cfg: ClientConfig, total: int, procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.children = []
        _GROUPS.append(self)
        per = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
        for n in per:
            if n == 0:
                continue
            parent_end, child_end = ctx.Pipe()
            c = ClientConfig(**{**cfg.__dict__, "n": n})
            p = ctx.Process(target=client_main, args=(child_end, c), daemon=True)
            p.start()
            child_end.close()
            self.children.append((p, parent_end))
        self.results: list[dict] = []

    def wait_ready(self, timeout: float) -> tuple[int, list]:
        ok, errors = 0, []
        for _p, pipe in self.children:
            if not pipe.poll(timeout):
                errors.append("client process not ready in time")
                continue
            _tag, n_ok, errs = pipe.recv()
            ok += n_ok
            errors += errs
        return ok, errors

    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.children]

    def stop(self) -> None:
        for _p, pipe in self.children:
            with contextlib.suppress(OSError, BrokenPipeError):
                pipe.send("stop")

    def collect(self, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        for p, pipe in self.children:
            left = max(0.1, deadline - time.monotonic())
            if pipe.poll(left):
                tag, result = pipe.recv()
                if tag == "result":
                    self.results.append(result)
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(2)
        return self.results

    def close(self) -> None:
        """Terminate client processes still running (only ours, by their Process handle)."""
        for p, _pipe in self.children:
            if p.is_alive():
                p.terminate()
                p.join(2)

    def __enter__(self) -> ClientGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_results(self, timeout: float) -> bool:
        """True when every client process has sent its result within `timeout` (no stop needed)."""
        deadline = time.monotonic() + timeout
        for _p, pipe in self.children:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                return False
        return True


# --------------------------------------------------------------------------- writers


def paced_writer(path: Path, rate: float, duration: float) -> dict:
    """Append one line per write() at `rate` lines/s for `duration` s, each stamped with
    time.monotonic_ns() taken just before its write."""
    total = int(rate * duration)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    late_max = 0
    start = time.monotonic_ns()
    step = 1e9 / rate
    try:
        for seq in range(total):
            target = start + int(seq * step)
            now = time.monotonic_ns()
            if now < target:
                time.sleep((target - now) / 1e9)
                now = time.monotonic_ns()
            late_max = max(late_max, now - target)
            os.write(fd, make_line(seq, now))
    finally:
        os.close(fd)
    elapsed = (time.monotonic_ns() - start) / 1e9
    return {"lines": total, "seconds": elapsed, "achieved_rate": total / elapsed, "writer_late_max_ms": late_max / 1e6}


def stage_lines(path: Path, total: int, block_lines: int = 10_000) -> int:
    """Write `total` bench lines to `path` (outside the sidecar's glob), untimed; returns bytes."""
    written = 0
    with open(path, "wb") as out:
        for seq in range(0, total, block_lines):
            block = b"".join(make_line(s, 0) for s in range(seq, min(total, seq + block_lines)))
            out.write(block)
            written += len(block)
    return written


def bulk_writer(path: Path, staged: Path, block_bytes: int = 1 << 20) -> dict:
    """Append the staged lines to `path` as fast as the kernel copies them, in ~1 MB writes
    (pread + write of prepared bytes: the writer costs next to no CPU, so the sidecar gets the machine)."""
    size = staged.stat().st_size
    src = os.open(staged, os.O_RDONLY)
    dst = os.open(path, os.O_WRONLY | os.O_APPEND)
    start = time.monotonic_ns()
    try:
        offset = 0
        while offset < size:
            block = os.pread(src, block_bytes, offset)
            if not block:
                raise OSError("staged file shorter than expected")
            os.write(dst, block)
            offset += len(block)
    finally:
        os.close(src)
        os.close(dst)
    return {"bytes": size, "start_ns": start, "seconds": (time.monotonic_ns() - start) / 1e9}


# --------------------------------------------------------------------------- reporting


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []  # scenario, figure, value, target, verdict
        self.data: dict = {}

    def figure(self, scenario: str, name: str, value: str, target: str = "", ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("ok" if ok else "MISS")
        self.rows.append((scenario, name, value, target, verdict))
        print(f"  {name:<40} {value:<26} {('target ' + target) if target else '':<22} {verdict}", flush=True)

    def note(self, text: str) -> None:
        print(f"  . {text}", flush=True)

    def summary(self) -> None:
        print("\n== summary (figures vs DESIGN.md section 6 targets; printed, never asserted)")
        for scenario, name, value, target, verdict in self.rows:
            if target:
                print(f"  {scenario:<10} {name:<40} {value:<26} {target:<22} {verdict}")


def percentile(sorted_values, q: float):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(q / 100 * (len(sorted_values) - 1)))))
    return sorted_values[index]


def fmt_ms(ns) -> str:
    return "-" if ns is None else f"{ns / 1e6:.2f} ms"


def lag_histogram(metrics_text: str) -> dict | None:
    """log_sidecar_delivery_lag_seconds: count, mean and bucket-bounded p50/p90/p99."""
    buckets: list[tuple[float, float]] = []
    total = count = None
    for line in metrics_text.splitlines():
        if line.startswith("log_sidecar_delivery_lag_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', line).group(1)
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
        elif line.startswith("log_sidecar_delivery_lag_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("log_sidecar_delivery_lag_seconds_count"):
            count = float(line.rsplit(" ", 1)[1])
    if not buckets or not count:
        return None
    buckets.sort()

    def bound(q: float) -> float:
        need = q * count
        for le, cumulative in buckets:
            if cumulative >= need:
                return le
        return float("inf")

    return {"count": int(count), "mean_s": total / count, "p50_le_s": bound(0.5), "p90_le_s": bound(0.9),
            "p99_le_s": bound(0.99), "max_le_s": bound(1.0)}


def metric_value(metrics_text: str, name: str) -> float:
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def print_lag(report: Report, scenario: str, metrics_text: str) -> None:
    lag = lag_histogram(metrics_text)
    if lag is None:
        report.note("log_sidecar_delivery_lag_seconds: no samples in /metrics")
        return
    report.data.setdefault(scenario, {})["server_delivery_lag"] = lag

    def ms(s: float) -> str:
        return "inf" if s == float("inf") else f"{s * 1000:g} ms"

    report.figure(scenario, "server delivery_lag (batches observed)", str(lag["count"]))
    report.figure(
        scenario, "server delivery_lag mean / p50 / p99",
        f"{lag['mean_s'] * 1000:.2f} / <={ms(lag['p50_le_s'])} / <={ms(lag['p99_le_s'])}",
    )
    report.note("delivery_lag = batch created in the hub -> frame handed to the connection (bucket upper bounds)")


# --------------------------------------------------------------------------- scenarios


def sidecar_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # Every bench client comes from 127.0.0.1: lift the per-address cap with the total one.
    env = {"LOG_SIDECAR_MAX_STREAMS": "2000", "LOG_SIDECAR_MAX_STREAMS_PER_CLIENT": "2000"}
    env.update(extra or {})
    return env


@contextlib.contextmanager
def running_sidecar(report: Report, env: dict[str, str] | None = None, kind: str = "sidecar"):
    """A fresh sidecar (or, kind="bare", the reference streamer) following a new empty bench.log."""
    tmp = Path(tempfile.mkdtemp(prefix="log-sidecar-bench-"))
    log = tmp / "bench.log"
    log.touch()  # present at start: the source is "following" (ready) before any line
    sidecar = (Bare if kind == "bare" else Sidecar)(tmp, sidecar_env(env))
    if kind == "baseline":
        sidecar.cwd = BASELINE
    try:
        sidecar.start()
        sidecar.wait_ready()
        if kind == "bare":
            report.note(f"bare reference streamer (bench/bare.py) pid {sidecar.pid} on 127.0.0.1:{sidecar.port}")
        elif kind == "baseline":
            report.note(f"baseline sidecar ({BASELINE}) pid {sidecar.pid} on 127.0.0.1:{sidecar.port}")
        else:
            report.note(f"sidecar pid {sidecar.pid} on 127.0.0.1:{sidecar.port}, following {tmp}/*.log "
                        f"(LOG_SIDECAR_* defaults except MAX_STREAMS=MAX_STREAMS_PER_CLIENT=2000)")
        yield sidecar, log
    finally:
        sidecar.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def summarize_clients(results: list[dict], expected: int) -> dict:
    sockets = [s for r in results for s in r["sockets"]]
    received = sum(s["lines"] for s in sockets)
    unique = sum((s["unique"] if s["unique"] is not None else s["lines"]) for s in sockets)
    return {
        "clients": len(sockets),
        "http_200": sum(1 for s in sockets if s["status"] == 200),
        "expected_total": expected * len(sockets),
        "received_total": received,
        "unique_total": unique,
        "lost_total": expected * len(sockets) - unique,
        "dups": sum(s["dups"] for s in sockets),
        "out_of_order": sum(s["out_of_order"] for s in sockets),
        "gaps": sum(s["gaps"] for s in sockets),
        "gap_missed": sum(s["gap_missed"] for s in sockets),
        "clients_with_loss": sum(1 for s in sockets if (s["unique"] if s["unique"] is not None else s["lines"]) < expected),
        "errors": sorted({s["error"] for s in sockets if s["error"]})[:3],
        "client_cpu_s": sum(r["cpu_s"] for r in results),
    }


def latencies_of(results: list[dict]) -> list[int]:
    values = array("q")
    for r in results:
        values.frombytes(r["latencies"])
    return sorted(values)


def live_scenario(report: Report, name: str, clients: int, procs: int, rate: float, duration: float,
                  p99_target_ms: float, rss_target_mb: float | None, kind: str = "sidecar") -> dict:
    expected = int(rate * duration)
    name = label(name, kind)
    with running_sidecar(report, kind=kind) as (sidecar, log):
        rss_ready = sidecar.rss_mb()
        group = ClientGroup(ClientConfig(port=sidecar.port, n=0, mode="latency", expected=expected,
                                         hard_deadline=duration + 60), clients, procs)
        ok, errors = group.wait_ready(30)
        if ok < clients:
            report.note(f"only {ok}/{clients} streams opened: {errors[:3]}")
        time.sleep(0.5)  # subscriptions are made when the body starts: let every handler get there
        with Profiler(PROFILE_DIR if kind == "sidecar" else None, name, sidecar.pid), RssSampler(sidecar.pid) as rss, Window(sidecar.pid) as window:
            writer = paced_writer(log, rate, duration)
            if not group.wait_results(5.0):  # every client saw the last line, or 5 s of grace
                group.stop()
            results = group.collect(10)
        metrics_text = sidecar.metrics()
        hwm = sidecar.hwm_mb()
    summary = summarize_clients(results, expected)
    lat = latencies_of(results)
    p = {q: percentile(lat, q) for q in (50, 90, 99, 99.9)}
    mx = lat[-1] if lat else None
    report.data.setdefault(name, {}).update({
        "writer": writer, "clients": summary,
        "latency_ms": {str(q): (v / 1e6 if v is not None else None) for q, v in p.items()}
        | {"max": mx / 1e6 if mx else None, "samples": len(lat)},
        "rss_peak_mb": rss.peak_mb, "rss_ready_mb": rss_ready, "vmhwm_mb": hwm})
    report.note(
        f"load: 1 file, writer {writer['achieved_rate']:.0f} lines/s x {writer['seconds']:.1f} s "
        f"({expected} lines of {LINE_BYTES} B, one write() each; writer max lateness "
        f"{writer['writer_late_max_ms']:.2f} ms), {summary['clients']} SSE client(s) (format=json, tail=0) "
        f"in {len(group.children)} process(es)"
    )
    report.figure(name, "latency p50 / p90", f"{fmt_ms(p[50])} / {fmt_ms(p[90])}")
    if kind != "bare":
        report.figure(name, "latency p99", fmt_ms(p[99]), f"<= {p99_target_ms:g} ms",
                      p[99] is not None and p[99] <= p99_target_ms * 1e6)
    else:
        report.figure(name, "latency p99", fmt_ms(p[99]))
    report.figure(name, "latency p99.9 / max", f"{fmt_ms(p[99.9])} / {fmt_ms(mx)}")
    loss = summary["lost_total"]
    report.figure(name, "lines lost (all clients)", f"{loss} of {summary['expected_total']}", "0", loss == 0)
    report.figure(name, "gap events / lines missed by gaps", f"{summary['gaps']} / {summary['gap_missed']}")
    report.figure(name, "duplicates / out of order", f"{summary['dups']} / {summary['out_of_order']}")
    if rss_target_mb is not None and kind != "bare":
        report.figure(name, "sidecar RSS peak (sampled 10/s)", f"{rss.peak_mb:.1f} MB", f"<= {rss_target_mb:g} MB",
                      rss.peak_mb <= rss_target_mb)
    else:
        report.figure(name, "sidecar RSS peak (sampled 10/s)", f"{rss.peak_mb:.1f} MB")
    report.figure(name, "sidecar RSS after ready / VmHWM", f"{rss_ready:.1f} / {hwm:.1f} MB")
    window.report(report, name, summary["client_cpu_s"])
    if summary["http_200"] < clients or summary["errors"]:
        report.note(f"streams with HTTP 200: {summary['http_200']}/{clients}; errors: {summary['errors']}")
    if kind != "bare":
        print_lag(report, name, metrics_text)
    delivered = summary["unique_total"]
    report.figure(name, "sidecar CPU per delivered line", f"{window.cpu / max(1, delivered) * 1e6:.2f} us")
    return {"p99_ns": p[99], "cpu_s": window.cpu, "wall_s": window.wall, "delivered": delivered,
            "lost": loss, "rss_peak_mb": rss.peak_mb}


def label(scenario: str, kind: str) -> str:
    return scenario if kind == "sidecar" else f"{scenario}.{kind}"


def kinds() -> list[str]:
    """What each scenario runs against: this checkout, the --baseline one, the bare streamer."""
    return ["sidecar"] + (["baseline"] if BASELINE else []) + (["bare"] if BARE else [])


def announce_kind(name: str, kind: str) -> None:
    if kind == "bare":
        print(f"  -- {name} against the bare reference streamer (bench/bare.py)", flush=True)
    elif kind == "baseline":
        print(f"  -- {name} against the baseline checkout {BASELINE}", flush=True)


def live_pair(report: Report, name: str, **kwargs) -> None:
    """The scenario against each kind; the ratios printed."""
    out = {}
    for kind in kinds():
        announce_kind(name, kind)
        out[kind] = live_scenario(report, name, kind=kind, **kwargs)
    for r in out.values():
        r["cpu_per_line"] = r["cpu_s"] / max(1, r["delivered"])
    compare(report, name, "latency p99", {k: r["p99_ns"] for k, r in out.items()}, fmt_ms)
    compare(report, name, "CPU per delivered line", {k: r["cpu_per_line"] for k, r in out.items()},
            lambda v: f"{v * 1e6:.2f} us")
    compare(report, name, "RSS peak", {k: r["rss_peak_mb"] for k, r in out.items()}, lambda v: f"{v:.1f} MB")


def compare(report: Report, scenario: str, what: str, values: dict, fmt) -> None:
    """One figure of each kind, and the ratios: sidecar / bare, baseline / bare, sidecar / baseline."""
    pairs = [("sidecar", "bare"), ("baseline", "bare"), ("sidecar", "baseline")]
    shown = ", ".join(f"{k} {fmt(v) if v is not None else '-'}" for k, v in values.items())
    report.note(f"{what}: {shown}")
    for top, bottom in pairs:
        if top in values and bottom in values:
            ours, ref = values[top], values[bottom]
            value = f"{ours / ref:.2f}x" if ours is not None and ref else "-"
            report.figure(scenario, f"ratio {what} ({top} / {bottom})", value)
            report.data.setdefault("ratios", {})[f"{scenario}: {what} ({top} / {bottom})"] = {
                top: ours, bottom: ref, "ratio": ours / ref if ours is not None and ref else None}


def scenario_latency(report: Report, quick: bool) -> None:
    live_pair(report, "latency", clients=1, procs=1, rate=1000, duration=3 if quick else 10,
              p99_target_ms=5, rss_target_mb=None)


def scenario_fanout(report: Report, quick: bool) -> None:
    live_pair(report, "fanout", clients=100, procs=2, rate=1000, duration=3 if quick else 10,
              p99_target_ms=50, rss_target_mb=100)


def client_capacity(seconds: float = 0.5) -> float:
    """Lines/s the count-mode parsing handles on its own (no socket, one core): shows it is not the limit."""
    line = make_line(1, 1)[:-1].decode()
    frame_lines = ",".join(
        json.dumps({"source": "bench.log", "text": line, "time": 1732600000.123456, "level": "info",
                    "truncated": False, "id": 1732600000000000 + i}, separators=(",", ":")) for i in range(2600))
    frame = f'id: 1\r\nevent: lines\r\ndata: {{"lines":[{frame_lines}]}}\r\n\r\n'.encode()
    chunk = frame * 4
    carry = b""
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for off in range(0, len(chunk), 1 << 18):  # in 256 KiB pieces, like recv() returns them
            data = carry + chunk[off : off + (1 << 18)]
            n += data.count(LINE_TOKEN)
            pos = data.rfind(b'"text":"')
            found = TEXT_RE.match(data, pos) if pos >= 0 else None
            if found is not None:
                int(found.group(1))
            b"event: gap" in data  # noqa: B015 - same work as the client
            carry = data[-5:]
    return n / (time.perf_counter() - start)


def scenario_throughput(report: Report, quick: bool) -> None:
    total = 200_000 if quick else 1_000_000
    with running_sidecar(report) as (sidecar, log):
        staged = log.with_suffix(".staged")  # not *.log: the sidecar does not follow it
        stage_lines(staged, total)
        rss_ready = sidecar.rss_mb()
        group = ClientGroup(ClientConfig(port=sidecar.port, n=0, mode="count", expected=total, hard_deadline=90,
                                         quiet_stop=5.0), 1, 1)
        ok, errors = group.wait_ready(30)
        if ok < 1:
            report.note(f"stream did not open: {errors}")
        time.sleep(0.5)
        with Profiler(PROFILE_DIR, "throughput", sidecar.pid), RssSampler(sidecar.pid) as rss, \
                Window(sidecar.pid) as window:
            writer = bulk_writer(log, staged)
            results = group.collect(90)
        metrics_text = sidecar.metrics()
    if not results or not results[0]["sockets"]:
        report.note("no result from the client process")
        return
    s = results[0]["sockets"][0]
    received = s["lines"]
    elapsed = ((s["last_line_ns"] or time.monotonic_ns()) - writer["start_ns"]) / 1e9
    rate = received / elapsed if elapsed > 0 else 0.0
    loss = total - received
    client_cpu = results[0]["cpu_s"]
    client_busy = client_cpu / elapsed if elapsed > 0 else 0
    capacity = client_capacity()
    dropped = metric_value(metrics_text, "log_sidecar_lines_dropped_total")
    report.data.setdefault("throughput", {}).update({
        "writer": {k: v for k, v in writer.items() if k != "start_ns"}, "lines": total, "received": received,
        "elapsed_s": elapsed, "lines_per_s": rate, "loss": loss, "gaps": s["gaps"], "gap_missed": s["gap_missed"],
        "client_parse_capacity_lines_per_s": capacity, "rss_peak_mb": rss.peak_mb, "wire_bytes": s["bytes"],
        "sidecar_lines_dropped_metric": dropped})
    report.note(
        f"load: 1 file, {total} lines of {LINE_BYTES} B ({writer['bytes'] / 1e6:.0f} MB) appended in "
        f"{writer['seconds']:.2f} s ({total / writer['seconds']:,.0f} lines/s, 1 MiB writes, lines cut across "
        "writes), 1 SSE client (format=json, tail=0) in its own process"
    )
    report.figure("throughput", "lines/s, first write -> last line received", f"{rate:,.0f} lines/s",
                  ">= 200,000 lines/s", rate >= 200_000 and loss == 0)
    report.figure("throughput", "MB/s of log text (SSE wire MB/s)",
                  f"{rate * LINE_BYTES / 1e6:.1f} ({s['bytes'] / elapsed / 1e6:.1f} wire)", ">= 25 MB/s",
                  rate * LINE_BYTES / 1e6 >= 25)
    report.figure("throughput", "time to deliver everything", f"{elapsed:.2f} s")
    report.figure("throughput", "lines lost", f"{loss} of {total}", "0", loss == 0)
    report.figure("throughput", "gap events / lines missed by gaps", f"{s['gaps']} / {s['gap_missed']}")
    report.figure("throughput", "out of order / last seq seen", f"{s['out_of_order']} / {s['last_seq']}")
    report.figure("throughput", "sidecar RSS after ready / peak", f"{rss_ready:.1f} / {rss.peak_mb:.1f} MB")
    window.report(report, "throughput", client_cpu)
    report.figure("throughput", "client busy / client parse capacity",
                  f"{client_busy * 100:.0f} % / {capacity:,.0f} lines/s")
    report.note(
        "client is not the bottleneck when it is mostly idle (busy well under 100 %) and its parse capacity "
        f"(measured in-process on synthetic frames) is far above the rate; sidecar's own lines_dropped: {dropped:.0f}"
    )


def scenario_idle(report: Report, quick: bool) -> None:
    clients = 1000
    window_s = 3 if quick else 10
    limits = raise_nofile(clients * 2 + 256)
    with running_sidecar(report) as (sidecar, log):
        rss_before = sidecar.rss_mb()
        time.sleep(0.5)
        with Window(sidecar.pid) as base:
            time.sleep(2.0)
        t_connect = time.monotonic()
        group = ClientGroup(ClientConfig(port=sidecar.port, n=0, mode="idle", hard_deadline=window_s + 120), clients, 2)
        ok, errors = group.wait_ready(60)
        connect_s = time.monotonic() - t_connect
        time.sleep(1.0)  # let the accept burst settle before measuring idle
        active = metric_value(sidecar.metrics(), "log_sidecar_active_streams")
        with Profiler(PROFILE_DIR, "idle", sidecar.pid), RssSampler(sidecar.pid) as rss, \
                Window(sidecar.pid) as window:
            time.sleep(window_s)
        rss_idle = sidecar.rss_mb()
        hwm = sidecar.hwm_mb()
        group.stop()
        results = group.collect(20)
    summary = summarize_clients(results, 0)
    cpu_pct = window.cpu / window.wall * 100
    report.data.setdefault("idle", {}).update({
        "clients_ok": ok, "active_streams_metric": active, "rss_before_mb": rss_before, "rss_idle_mb": rss_idle,
        "rss_peak_mb": rss.peak_mb, "vmhwm_mb": hwm, "cpu_percent": cpu_pct,
        "baseline_cpu_percent": base.cpu / base.wall * 100, "connect_s": connect_s, "nofile": limits})
    report.note(
        f"load: {clients} SSE clients (format=json, tail=0; HTTP/1.0 raw sockets in 2 processes) connected and "
        f"idle, no lines written; window {window.wall:.1f} s (keep-alive pings every 15 s may not fall in it); "
        f"RLIMIT_NOFILE {limits[0]} (inherited by the sidecar)"
    )
    report.figure("idle", "streams open (HTTP 200 / active metric)", f"{ok} / {active:.0f}", f"{clients}",
                  ok == clients)
    report.figure("idle", "time to open all streams", f"{connect_s:.2f} s")
    report.figure("idle", "sidecar RSS idle with clients", f"{rss_idle:.1f} MB", "<= 200 MB", rss_idle <= 200)
    report.figure("idle", "sidecar RSS before clients / VmHWM", f"{rss_before:.1f} / {hwm:.1f} MB")
    report.figure("idle", "RSS per idle stream", f"{(rss_idle - rss_before) * 1024 / max(1, ok):.0f} KB")
    report.figure("idle", "sidecar CPU idle with clients", f"{cpu_pct:.2f} % of one core",
                  "near 0 (<= 2 %)", cpu_pct <= 2)
    report.figure("idle", "sidecar CPU idle without clients", f"{base.cpu / base.wall * 100:.2f} % of one core")
    window.report(report, "idle", summary["client_cpu_s"])
    if errors or summary["errors"]:
        report.note(f"errors: {(errors + summary['errors'])[:3]}")


def scenario_startup(report: Report, quick: bool) -> None:
    runs = 2 if quick else 5
    times, port_times = [], []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="log-sidecar-bench-"))
        (tmp / "app.log").write_bytes(b"".join(make_line(i, 0) for i in range(1000)))
        sidecar = Sidecar(tmp, sidecar_env())
        try:
            sidecar.start()
            times.append(sidecar.wait_ready(step=0.005))
            port_times.append((sidecar.port_seen_ns - sidecar.started_ns) / 1e9)
        finally:
            sidecar.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    report.data["startup"] = {"ready_s": times, "listening_s": port_times}
    report.note(f"load: {runs} fresh starts of `python -m sidecar serve`, one 100 kB log file present, "
                "/readyz polled every 5 ms from Popen()")
    report.figure("startup", "start -> /readyz 200, median / max",
                  f"{sorted(times)[len(times) // 2]:.2f} / {max(times):.2f} s", "<= 2 s", max(times) <= 2)
    report.figure("startup", "start -> 'Uvicorn running' line, median",
                  f"{sorted(port_times)[len(port_times) // 2]:.2f} s")


def idle_tax_run(report: Report, kind: str, quick: bool) -> dict:
    """No client at all: RSS with the file source only, then CPU while 1,000 single-line
    writes/s go to the followed file."""
    name = label("idletax", kind)
    duration = 3 if quick else 10
    with running_sidecar(report, kind=kind) as (sidecar, log):
        time.sleep(1.0)
        rss_idle = sidecar.rss_mb()
        with Profiler(PROFILE_DIR if kind == "sidecar" else None, name, sidecar.pid), Window(sidecar.pid) as window:
            writer = paced_writer(log, 1000, duration)
            time.sleep(1.2)  # the last lines' reading belongs to the window (a read a second without a client)
        rss_after = sidecar.rss_mb()
        held = None
        if kind != "bare":  # nothing was lost by reading lazily: every line is held
            status, body = sidecar.get("/api/sources")
            if status == 200:
                held = sum(s["lines_seen"] for s in json.loads(body)["sources"] if s["id"].startswith("bench"))
    # Over the writing time, not the window: the window's quiet tail (the last read) is cost
    # of those lines, and dividing by it too would make the figure look lower than it is.
    per10 = window.cpu / max(writer["seconds"], 1e-9) * 10
    report.note(f"load: no client; 1 file, {writer['achieved_rate']:.0f} lines/s x {writer['seconds']:.1f} s, one "
                "write() per line")
    if kind != "bare":
        report.figure(name, "CPU per 10 s, no client, 1,000 writes/s", f"{per10:.3f} s ({per10 * 10:.2f} % of a core)",
                      "<= 0.1 s (1 %)", per10 <= 0.1)
        report.figure(name, "RSS idle, file source only", f"{rss_idle:.1f} MB", "<= 50 MB", rss_idle <= 50)
        report.figure(name, "lines read (api/sources) / written", f"{held} / {writer['lines']}", "all",
                      held == writer["lines"])
    else:
        report.figure(name, "CPU per 10 s, no client, 1,000 writes/s", f"{per10:.3f} s ({per10 * 10:.2f} % of a core)")
        report.figure(name, "RSS idle", f"{rss_idle:.1f} MB")
    report.figure(name, "RSS after the writes", f"{rss_after:.1f} MB")
    window.report(report, name, None)
    report.data.setdefault(name, {}).update({"cpu_per_10s": per10, "rss_idle_mb": rss_idle,
                                             "rss_after_mb": rss_after, "lines_held": held, "writer": writer})
    return {"cpu_per_10s": per10, "rss_idle_mb": rss_idle}


def stack_floor_rss(report: Report) -> float | None:
    """Idle RSS of bench/floor.py: what the chosen libraries cost before the sidecar's own work."""
    tmp = Path(tempfile.mkdtemp(prefix="log-sidecar-bench-"))
    floor = Floor(tmp, sidecar_env())
    try:
        floor.start()
        floor.wait_ready()
        time.sleep(1.0)
        rss = floor.rss_mb()
    except (RuntimeError, OSError) as error:
        report.note(f"stack floor (bench/floor.py) did not start: {error}")
        return None
    finally:
        floor.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report.note("stack floor = bench/floor.py: FastAPI, pydantic-settings, sse-starlette, prometheus-client, "
                "uvicorn + uvloop + httptools, one route")
    report.figure("idletax", "RSS idle of the stack alone (bench/floor.py)", f"{rss:.1f} MB")
    return rss


def scenario_idletax(report: Report, quick: bool) -> None:
    out = {}
    for kind in kinds():
        announce_kind("idletax", kind)
        out[kind] = idle_tax_run(report, kind, quick)
    compare(report, "idletax", "CPU per 10 s, no client", {k: r["cpu_per_10s"] for k, r in out.items()},
            lambda v: f"{v:.3f} s")
    compare(report, "idletax", "RSS idle", {k: r["rss_idle_mb"] for k, r in out.items()}, lambda v: f"{v:.1f} MB")
    floor = stack_floor_rss(report)
    if floor:
        report.data["idletax"]["stack_floor_rss_mb"] = floor
        for kind in ("sidecar", "baseline"):
            if kind in out:
                report.figure("idletax", f"RSS idle over the stack floor ({kind})",
                              f"+{out[kind]['rss_idle_mb'] - floor:.1f} MB")


LADDER_RATES = (50_000, 100_000, 200_000, 300_000, 400_000, 600_000, 800_000)
LADDER_P99_MS = 100.0
LADDER_INTERVAL = 0.01  # one write() every 10 ms: rate / 100 lines in each


def paced_batches(path: Path, staged: Path, rate: int, duration: float, interval: float = LADDER_INTERVAL) -> dict:
    """Append staged fixed-size lines at `rate` lines/s, `rate * interval` lines per write();
    the time of each write is kept (lines carry only their seq), so the writer costs little."""
    per = max(1, int(rate * interval))
    batches = max(1, int(duration / interval))
    src = os.open(staged, os.O_RDONLY)
    dst = os.open(path, os.O_WRONLY | os.O_APPEND)
    stamps = array("q")
    late = 0
    start = time.monotonic_ns()
    try:
        for k in range(batches):
            block = os.pread(src, per * LINE_BYTES, k * per * LINE_BYTES)
            target = start + int(k * interval * 1e9)
            now = time.monotonic_ns()
            if now < target:
                time.sleep((target - now) / 1e9)
                now = time.monotonic_ns()
            late = max(late, now - target)
            stamps.append(now)
            os.write(dst, block)
    finally:
        os.close(src)
        os.close(dst)
    seconds = (time.monotonic_ns() - start) / 1e9
    return {"lines": per * batches, "per_write": per, "stamps": stamps, "seconds": seconds,
            "achieved_rate": per * batches / seconds, "late_max_ms": late / 1e6}


def ladder_latencies(samples_bytes: list[bytes], stamps: array, per: int) -> list[tuple[int, int]]:
    """(latency ns, lines) per recv(): the first line of the recv (the oldest in it) minus the
    time its write() was made; weighted by the lines the recv completed (an upper bound for each)."""
    out = []
    for raw in samples_bytes:
        values = array("q")
        values.frombytes(raw)
        for i in range(0, len(values), 3):
            seq, t_recv, n = values[i], values[i + 1], values[i + 2]
            batch = seq // per
            if batch < len(stamps):
                out.append((t_recv - stamps[batch], n))
    out.sort()
    return out


def weighted_percentile(pairs: list[tuple[int, int]], q: float):
    total = sum(n for _, n in pairs)
    need, seen = q / 100 * total, 0
    for value, n in pairs:
        seen += n
        if seen >= need:
            return value
    return pairs[-1][0] if pairs else None


def ladder_run(report: Report, kind: str, fmt: str, staged: Path, quick: bool) -> dict:
    """One server, one new client per step; steps up the rates until one is not clean."""
    name = label(f"ladder-{fmt}", kind)
    duration = 1.0 if quick else 2.0
    steps = []
    with running_sidecar(report, kind=kind) as (sidecar, log):
        for rate in LADDER_RATES:
            per = int(rate * LADDER_INTERVAL)
            expected = per * int(duration / LADDER_INTERVAL)
            group = ClientGroup(ClientConfig(port=sidecar.port, n=0, mode="ladder", expected=expected, fmt=fmt,
                                             path=f"/api/stream?tail=0&format={fmt}", hard_deadline=60,
                                             quiet_stop=3.0), 1, 1)
            ok, errors = group.wait_ready(30)
            if ok < 1:
                report.note(f"stream did not open: {errors}")
                break
            time.sleep(0.3)
            profile = PROFILE_DIR if kind == "sidecar" else None
            with Profiler(profile, f"{name}-{rate}", sidecar.pid), Window(sidecar.pid) as window:
                writer = paced_batches(log, staged, rate, duration)
                results = group.collect(60)
            group.close()
            sockets = [s for r in results for s in r["sockets"]]
            received = sum(s["lines"] for s in sockets)
            lat = ladder_latencies([r["samples"] for r in results], writer["stamps"], per)
            p99 = weighted_percentile(lat, 99)
            p50 = weighted_percentile(lat, 50)
            gaps = sum(s["gaps"] for s in sockets)
            ooo = sum(s["out_of_order"] for s in sockets)
            clean = received == expected and gaps == 0 and ooo == 0 and p99 is not None and p99 <= LADDER_P99_MS * 1e6
            cpu_line = window.cpu / max(1, received)
            step = {"rate": rate, "achieved_rate": writer["achieved_rate"], "expected": expected, "received": received,
                    "gaps": gaps, "out_of_order": ooo, "p50_ms": p50 / 1e6 if p50 is not None else None,
                    "p99_ms": p99 / 1e6 if p99 is not None else None, "cpu_s": window.cpu,
                    "cpu_us_per_line": cpu_line * 1e6, "write_calls": window.writes, "clean": clean,
                    "writer_late_max_ms": writer["late_max_ms"]}
            steps.append(step)
            report.figure(name, f"{rate:>7,} lines/s: p50 / p99, lost",
                          f"{fmt_ms(p50)} / {fmt_ms(p99)}, {expected - received}",
                          f"p99 <= {LADDER_P99_MS:g} ms, 0", clean)
            report.note(f"{rate:,}/s: {received}/{expected} lines, {gaps} gaps, CPU {window.cpu / window.wall * 100:.0f} % "
                        f"of a core (loop waiting for a CPU {window.wait / window.wall * 100:.0f} % of the time, other "
                        f"processes {window.others(0) / window.wall:.2f} cores), {cpu_line * 1e6:.2f} us per line, {window.writes:,} write() "
                        f"calls; writer {writer['achieved_rate']:,.0f}/s, "
                        f"late max {writer['late_max_ms']:.1f} ms")
            if not clean:
                break
    best = max((st["rate"] for st in steps if st["clean"]), default=0)
    report.figure(name, "highest clean rate (1 client)", f"{best:,} lines/s",
                  ">= 400,000" if kind != "bare" else "", (best >= 400_000) if kind != "bare" else None)
    report.data.setdefault(name, {}).update({"steps": steps, "best_rate": best})
    return {"best": best, "steps": {st["rate"]: st for st in steps}}


def scenario_ladder(report: Report, quick: bool) -> None:
    duration = 1.0 if quick else 2.0
    tmp = Path(tempfile.mkdtemp(prefix="log-sidecar-bench-stage-"))
    try:
        staged = tmp / "lines.staged"
        stage_lines(staged, int(max(LADDER_RATES) * duration) + 10_000)
        report.note(f"load: 1 file, each rate for {duration:g} s in writes of rate/100 lines every 10 ms; 1 SSE "
                    "client (tail=0), a fresh one per rate; clean = every line, in order, no gap, p99 <= 100 ms "
                    "(p99 per line: the oldest line of each recv(), weighted by the lines it completed)")
        for fmt in ("json", "text"):
            out = {}
            for kind in kinds():
                announce_kind(f"ladder-{fmt}", kind)
                out[kind] = ladder_run(report, kind, fmt, staged, quick)
            compare(report, f"ladder-{fmt}", "highest clean rate", {k: r["best"] for k, r in out.items()},
                    lambda v: f"{v:,}/s")
            common = [r for r in LADDER_RATES if all(r in o["steps"] for o in out.values())]
            if common:
                at = 200_000 if 200_000 in common else common[-1]
                compare(report, f"ladder-{fmt}", f"CPU per line at {at:,}/s",
                        {k: r["steps"][at]["cpu_us_per_line"] for k, r in out.items()}, lambda v: f"{v:.2f} us")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


RUNNERS = {
    "idletax": scenario_idletax,
    "ladder": scenario_ladder,
    "startup": scenario_startup,
    "latency": scenario_latency,
    "throughput": scenario_throughput,
    "fanout": scenario_fanout,
    "idle": scenario_idle,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (~45 s in all)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma list of: " + ", ".join(SCENARIOS))
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each scenario wait up to SECONDS for other processes to use < 0.3 core")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="record the sidecar with py-spy (PATH or PY_SPY=...) into DIR/<scenario>.raw.txt")
    parser.add_argument("--profile-format", choices=("svg", "raw"), default="svg",
                        help="svg: a flamegraph per scenario; raw: collapsed stacks, and the top functions printed")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also run the sidecar of this checkout (e.g. git archive main | tar -x -C DIR) in "
                             "idletax, latency, ladder and fanout: before and after figures from one run")
    parser.add_argument("--no-bare", action="store_true",
                        help="skip the bare reference streamer runs (and the ratios)")
    options = parser.parse_args(argv)
    global PROFILE_DIR, PROFILE_FORMAT, BARE, BASELINE
    PROFILE_DIR = options.profile
    PROFILE_FORMAT = options.profile_format
    BARE = not options.no_bare
    BASELINE = options.baseline.resolve() if options.baseline else None
    for checkout in [REPO] + ([BASELINE] if BASELINE else []):
        compile_bytecode(checkout)
    chosen = [s.strip() for s in options.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in RUNNERS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    raise_nofile(4096)
    machine = machine_description()
    report = Report()
    report.data["machine"] = machine
    print("log-sidecar bench (DESIGN.md section 6 targets)")
    print(f"  machine: {machine['nproc']} CPUs ({machine['affinity_cpus']} usable), {machine['cpu_model']}, "
          f"{machine['mem_gb']} GB RAM, kernel {machine['kernel']}")
    print(f"  python:  {machine['python_impl']} {machine['python']} ({sys.executable})")
    print(f"  load average at start: {', '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}")
    print(f"  mode:    {'quick' if options.quick else 'default'}; scenarios: {', '.join(chosen)}")
    print("  every process on 127.0.0.1; sidecar, writer and clients share the CPUs above")
    started = time.monotonic()
    for name in chosen:
        print(f"\n== {name}", flush=True)
        cores, waited = machine_load(options.wait_quiet)
        print(f"  . machine before the run: {cores:.2f} cores busy with other processes"
              + (f" (after waiting {waited:.0f} s for quiet)" if waited > 1 else ""), flush=True)
        report.data.setdefault(name, {})["other_cores_before"] = cores
        t = time.monotonic()
        try:
            RUNNERS[name](report, options.quick)
        except Exception as error:  # noqa: BLE001 - a broken scenario must not hide the others
            print(f"  !! {name} failed: {type(error).__name__}: {error}", flush=True)
            report.data.setdefault("errors", {})[name] = repr(error)
        finally:
            while _GROUPS:
                _GROUPS.pop().close()
        print(f"  ({time.monotonic() - t:.1f} s)", flush=True)
    report.summary()
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    if options.json:
        options.json.write_text(json.dumps(report.data, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
