"""Real Strom processes for end-to-end tests.

``StromProcess`` starts ``strom serve --listen 127.0.0.1:0`` on a temp data
dir, reads the bound port from the ready line, and stops it with SIGTERM
(asserting a clean exit) or kill -9.  A restart reuses the same port so
clients reconnect to the same bootstrap address.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STROM = Path(sys.executable).with_name("strom")
READY = re.compile(r"broker ready on ([\d.]+):(\d+)")


class StromProcess:
    def __init__(self, data_dir: Path, log_path: Path, overrides: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.overrides = dict(overrides or {})
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "StromProcess":
        cmd = [str(STROM), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        for k, v in self.overrides.items():
            cmd += ["--override", f"{k}={v}"]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     env={**os.environ, "PYTHONASYNCIODEBUG": os.environ.get("PYTHONASYNCIODEBUG", "")})
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = READY.search(line)
            if m:
                self.port = int(m.group(2))
                return self
        self.proc.kill()
        raise AssertionError(f"strom did not become ready; log tail:\n{self.log_tail()}")

    def stop(self, timeout: float = 10) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"strom did not stop within {timeout}s of SIGTERM")
        self._log.close()
        return code

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def restart(self) -> "StromProcess":
        assert self.stop() == 0
        return self.start()

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def strom_factory(tmp_path):
    started: list[StromProcess] = []

    def make(overrides: dict[str, object] | None = None) -> StromProcess:
        """Start a broker; ``overrides`` are Kafka property names and values."""
        n = len(started)
        s = StromProcess(tmp_path / f"data{n}", tmp_path / f"strom{n}.log",
                         {k: str(v) for k, v in (overrides or {}).items()})
        started.append(s)
        return s.start()

    yield make
    for s in started:
        s.cleanup()


@pytest.fixture
def broker(strom_factory):
    return strom_factory()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
