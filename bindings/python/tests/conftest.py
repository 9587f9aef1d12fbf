# SPDX-License-Identifier: MIT
"""Fixtures: a mock Kafka cluster in its own process (rs_mock), the real
ringsided in front of it, and an independent consumer (kcat) to read back.

$RINGSIDED and $RS_MOCK name the binaries (tests/check-all.sh sets them);
otherwise they are looked for in ../../build/dev.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

TREE = Path(__file__).resolve().parents[3]


def _binary(env: str, rel: str) -> str:
    path = os.environ.get(env) or str(TREE / "build" / "dev" / rel)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (set ${env})")
    return path


class Mock:
    """rs_mock: brokers that outlive the daemon a test kills."""

    def __init__(self, brokers: int, topics: List[str]) -> None:
        self.proc = subprocess.Popen(
            [_binary("RS_MOCK", "tests/integration/rs_mock"), str(brokers)]
            + topics, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        assert self.proc.stdout is not None
        self.bootstraps = self.proc.stdout.readline().strip()
        assert self.bootstraps, "rs_mock printed no bootstrap servers"

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)

    def consume(self, topic: str) -> List[dict]:
        """Every record of topic, read with kcat from offset 0."""
        out = subprocess.run(
            ["kcat", "-C", "-J", "-e", "-q", "-o", "beginning", "-b",
             self.bootstraps, "-t", topic],
            check=True, capture_output=True, text=True, timeout=60).stdout
        return [json.loads(line) for line in out.splitlines() if line]


class Daemon:
    """The real ringsided, its config written for the test."""

    def __init__(self, tmp: Path, bootstraps: str, ringside_keys: str = "",
                 sections: str = "[topic:*]\nacks = all\n") -> None:
        self.dir = tmp
        self.sock = str(tmp / "rs.sock")
        self.conf = tmp / "ringside.ini"
        self.log = tmp / "ringsided.log"
        self.conf.write_text(
            f"[ringside]\nsocket = {self.sock}\nspool_dir = {tmp}/spool\n"
            f"log_level = debug\n{ringside_keys}\n"
            f"[kafka]\nbootstrap.servers = {bootstraps}\n{sections}\n")
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def start(self) -> None:
        start = self.log.stat().st_size if self.log.exists() else 0
        logf = open(self.log, "a")
        self.proc = subprocess.Popen(
            [_binary("RINGSIDED", "daemon/ringsided"), "--config",
             str(self.conf)], stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 30
        while True:
            with open(self.log) as f:
                f.seek(start)
                if "notice: listening on" in f.read():
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ringsided did not start:\n" + self.log.read_text())
            time.sleep(0.02)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        rc = self.proc.wait(60)
        self.proc = None
        return rc

    def stop(self) -> None:
        if self.proc is not None:
            assert self.kill(signal.SIGTERM) == 0, self.log.read_text()[-3000:]


@pytest.fixture
def mock() -> Iterator[Mock]:
    m = Mock(3, ["py:4", "other:2"])
    yield m
    m.stop()


@pytest.fixture
def daemon(tmp_path: Path, mock: Mock) -> Iterator[Daemon]:
    d = Daemon(tmp_path, mock.bootstraps)
    yield d
    d.stop()
