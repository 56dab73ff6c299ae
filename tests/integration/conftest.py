"""Real Strom processes for end-to-end tests.

``Broker`` (also exported as ``StromProcess``) starts
``strom serve --listen 127.0.0.1:0`` on a temp data dir and reads the bound
port from the single ready line on stdout (never "find a free port, then
bind").  With ``strom.http.port`` among the overrides (0: a free port) it also
waits for the line ``strom: metrics on URL`` and keeps the URL in ``metrics_url``.
Its stderr goes to a file under ``tmp_path`` (after a ``---- COMMAND`` line per start); when a test fails, the tail of
every broker log the test started is attached to the report.

``stop()`` sends SIGTERM and asserts a clean exit (code 0) within a few
seconds; ``kill9()`` simulates a crash; ``restart()`` and ``start()`` after a
stop keep the data dir and listen on the same port again, so clients keep
their bootstrap address.  Teardown stops every broker still running with SIGTERM and
fails the test if it does not exit cleanly, then kills whatever is left.

Fixtures: ``broker`` (a fresh broker per test), ``strom_factory`` (start
brokers with overrides), ``module_broker`` (one broker shared by a module, for
tests that only add uniquely named topics).
"""
from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

STROM = Path(sys.executable).with_name("strom")
READY = re.compile(r"broker ready on ([\d.]+):(\d+)")
METRICS = re.compile(r"strom: metrics on (http://\S+)")
_BROKERS = pytest.StashKey[list]()


class Broker:
    """One ``strom serve`` process.  Not thread-safe except ``restart`` racing client threads."""

    def __init__(self, data_dir: Path, log_path: Path, overrides: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.ready_line = ""
        self.metrics_url: str | None = None
        self._log = None
        self.limits: dict[int, int] = {}  # resource limits of the process, e.g. {RLIMIT_FSIZE: n}: a "full disk"
        self.args: list[str] = []  # further `strom serve` flags, e.g. ["--log-format", "json"]

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [str(STROM), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd + self.args

    def start(self, overrides: dict[str, object] | None = None, timeout: float = 30) -> "Broker":
        """Start (or start again on the same port and data dir) and wait for the ready line."""
        assert not self.alive, "already running"
        self.overrides.update({k: str(v) for k, v in (overrides or {}).items()})
        self._log = open(self.log_path, "ab")
        self._log.write(f"---- {' '.join(self.command())}\n".encode())
        self._log.flush()
        limits = dict(self.limits)

        def apply_limits() -> None:
            for which, value in limits.items():
                resource.setrlimit(which, (value, value))
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, text=True, preexec_fn=apply_limits if limits else None,
                                     env={**os.environ, "PYTHONASYNCIODEBUG": os.environ.get("PYTHONASYNCIODEBUG", "")})
        lines: list[str] = []
        got_ready = threading.Event()
        proc = self.proc
        wanted = [READY, METRICS] if "strom.http.port" in self.overrides else [READY]

        def read_stdout() -> None:  # also drains stdout for the process's lifetime
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if not got_ready.is_set() and all(any(p.search(seen) for seen in lines) for p in wanted):
                    got_ready.set()
            got_ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        got_ready.wait(timeout)
        ready = [m for m in map(READY.search, lines) if m]
        if not ready:
            self.proc.kill()
            code = self.proc.wait()
            raise AssertionError(f"strom did not print its ready line within {timeout}s (exit code {code}); "
                                 f"stdout: {''.join(lines)!r}\nlog tail:\n{self.log_tail()}")
        self.ready_line = next(line for line in lines if READY.search(line)).rstrip("\n")
        port = int(ready[0].group(2))
        urls = [m.group(1) for m in map(METRICS.search, lines) if m]
        self.metrics_url = urls[0] if urls else None
        if "strom.http.port" in self.overrides and self.metrics_url is None:
            raise AssertionError(f"strom printed no metrics line; stdout: {''.join(lines)!r}")
        assert self.port in (0, port), f"asked for port {self.port}, got {port}"
        self.port = port
        return self

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM; assert the process exits with code 0 within ``timeout``. Returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._close_log()
            raise AssertionError(f"strom did not stop within {timeout}s of SIGTERM; log tail:\n{self.log_tail()}")
        self._close_log()
        assert code == 0, f"strom exited with {code} after SIGTERM ({time.monotonic() - started:.1f}s); " \
                          f"log tail:\n{self.log_tail()}"
        return code

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._close_log()

    def restart(self, overrides: dict[str, object] | None = None) -> "Broker":
        """Clean stop, then start again on the same port with the same data dir."""
        self.stop()
        return self.start(overrides)

    def partition_dir(self, topic: str, partition: int = 0) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


StromProcess = Broker  # the earlier name


def pytest_configure(config):
    # kafka-python 3 loads its JSON schemas with importlib.resources' deprecated API: noise, not ours
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for b in item.stash.get(_BROKERS, []):
            report.sections.append((f"strom log {b.log_path.name} (tail)", b.log_tail(60)))
    return report


@pytest.fixture
def strom_factory(request, tmp_path):
    started: list[Broker] = request.node.stash.setdefault(_BROKERS, [])

    def make(overrides: dict[str, object] | None = None, *, limits: dict[int, int] | None = None,
             args: list[str] | None = None) -> Broker:
        """Start a broker; ``overrides`` are Kafka property names and values; ``limits`` are resource
        limits of its process (RLIMIT_FSIZE makes writes past that size fail, as on a full disk);
        ``args`` are further `strom serve` flags."""
        n = len(started)
        b = Broker(tmp_path / f"data{n}", tmp_path / f"strom{n}.log", overrides)
        b.limits = dict(limits or {})
        b.args = list(args or [])
        started.append(b)
        return b.start()

    yield make
    shutdown_all(started)


def shutdown_all(brokers: list[Broker]) -> None:
    """SIGTERM every broker still running and require a clean exit: every test doubles as a check
    that shutdown works after what it did.  Always kills what is left."""
    failures = []
    for b in brokers:
        try:
            if b.alive:
                b.stop()
        except AssertionError as exc:
            failures.append(f"{b.log_path.name}: {exc}")
        finally:
            b.cleanup()
    if failures:
        pytest.fail("unclean shutdown at teardown:\n" + "\n".join(failures), pytrace=False)


@pytest.fixture
def broker(strom_factory) -> Broker:
    return strom_factory()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory):
    """One broker for a whole module; tests must use unique topic names (see ``unique``)."""
    d = tmp_path_factory.mktemp("module-broker")
    b = Broker(d / "data", d / "strom.log")
    try:
        yield b.start()
    finally:
        shutdown_all([b])


@pytest.fixture
def shared_broker(request, module_broker) -> Broker:
    """``module_broker``, with its log attached to this test's failure report."""
    assert module_broker.alive, f"the module's broker died; log tail:\n{module_broker.log_tail()}"
    request.node.stash.setdefault(_BROKERS, []).append(module_broker)
    return module_broker


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
