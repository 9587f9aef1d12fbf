# SPDX-License-Identifier: MIT
"""Fixtures: a mock Kafka cluster in its own process (rs_mock), a real
Apache Kafka cluster (tests/kafka/cluster.sh, when $RS_KAFKA_REAL is 1),
the real ringsided in front of either, and an independent consumer (kcat)
to read back.

$RINGSIDED and $RS_MOCK name the binaries (tests/check-all.sh sets them);
otherwise they are looked for in ../../build/dev.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

import ringside

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
        return kcat_consume(self.bootstraps, topic)


CLUSTER_SH = TREE / "tests" / "kafka" / "cluster.sh"


class Cluster:
    """A real Apache Kafka 4.x cluster on loopback (tests/kafka/cluster.sh):
    a KRaft controller and three brokers, each its own JVM. Topics are
    made with confluent-kafka's AdminClient (replication factor 3,
    min.insync.replicas 2); records are read back with kcat."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        subprocess.run(["sh", str(CLUSTER_SH), "start", str(directory),
                        str(os.getpid())], check=True, timeout=300)
        self.bootstraps = (directory / "bootstrap").read_text().strip()

    def create(self, topic: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstraps})
        fut = admin.create_topics(
            [NewTopic(topic, partitions, 3,
                      config={"min.insync.replicas": "2"})])[topic]
        fut.result(60)
        # every partition with a leader before a test sends to it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            md = admin.list_topics(topic, timeout=10).topics[topic]
            if (md.error is None and len(md.partitions) == partitions
                    and all(p.leader >= 0 for p in md.partitions.values())):
                return
            time.sleep(0.2)
        pytest.fail(f"topic {topic}: no leader for every partition")

    def broker(self, command: str, n: int) -> None:
        """kill, pause, resume or restart broker n (1 to 3)."""
        subprocess.run(["sh", str(CLUSTER_SH), command, str(self.dir),
                        str(n)], check=True, timeout=120)

    def consume(self, topic: str) -> List[dict]:
        return kcat_consume(self.bootstraps, topic)

    def stop(self) -> None:
        subprocess.run(["sh", str(CLUSTER_SH), "stop", str(self.dir)],
                       check=False, timeout=60)


def kcat_consume(bootstraps: str, topic: str) -> List[dict]:
    """Every record of topic, read with kcat from offset 0."""
    out = subprocess.run(
        ["kcat", "-C", "-J", "-e", "-q", "-o", "beginning", "-b",
         bootstraps, "-t", topic],
        check=True, capture_output=True, text=True, timeout=120).stdout
    return [json.loads(line) for line in out.splitlines() if line]


def send_with_midway(client: ringside.Client, topic: ringside.Topic,
                     total: int, midway: Callable[[], None],
                     keyed: bool = True, pace: int = 200,
                     flush_timeout: float = 60.0) -> None:
    """Sends "0" .. str(total - 1) from a thread of its own (key
    "k<i % 16>" when keyed; a short sleep every pace records; a full ring
    retried, never waited on), polling meanwhile; calls midway() once a
    third are in the ring, then flushes once the thread is done."""
    accepted = [0]

    def run() -> None:
        for i in range(total):
            while True:
                try:
                    client.send(topic, str(i),
                                key=f"k{i % 16}" if keyed else None)
                    break
                except ringside.Full:
                    time.sleep(0.001)
            accepted[0] = i + 1
            if i % pace == 0:
                time.sleep(0.002)

    t = threading.Thread(target=run)
    t.start()
    while accepted[0] < total // 3:
        client.poll()
        time.sleep(0.005)
    midway()
    deadline = time.monotonic() + 120
    while t.is_alive() and time.monotonic() < deadline:
        client.poll()
        time.sleep(0.005)
    t.join()
    assert client.flush(flush_timeout)


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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The real cluster, started once for the session's tests that ask
    for it; they run when $RS_KAFKA_REAL is 1 (tests/python.sh sets it)."""
    if os.environ.get("RS_KAFKA_REAL") != "1":
        pytest.skip("the real Kafka cluster is not asked for "
                    "(RS_KAFKA_REAL=1; it needs Java and Maven)")
    c = Cluster(tmp_path_factory.mktemp("kafka"))
    yield c
    c.stop()
