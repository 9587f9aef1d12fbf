# SPDX-License-Identifier: MIT
"""The ringside package against a real Apache Kafka cluster (three brokers,
replication factor 3, min.insync.replicas 2): what only a real broker
does, read back with kcat and compared with what was sent and with the
delivery reports. Runs when $RS_KAFKA_REAL is 1 (tests/python.sh)."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import ringside

from conftest import Cluster, Daemon, send_with_midway

# per-key order across retries needs librdkafka's idempotence (the shipped
# ringside.ini enables it): without it a batch retried after a transient
# error (a leader just elected) lands behind the next one
ACKS_ALL = ("enable.idempotence = true\n"
            "[topic:*]\nacks = all\nbacklog_ms = 500\n")


def check_all_there(got: List[dict], total: int) -> None:
    """Every record once at least, and per key in the order sent."""
    first: Dict[int, dict] = {}
    for r in got:
        first.setdefault(int(r["payload"]), r)
    missing = set(range(total)) - set(first)
    assert not missing, f"{len(missing)} lost, e.g. {sorted(missing)[:5]}"
    last: Dict[Tuple[str, int], int] = {}
    for r in sorted(first.values(), key=lambda r: (r["partition"],
                                                   r["offset"])):
        k = (r["key"], r["partition"])
        assert last.get(k, -1) < int(r["payload"]), f"out of order: {r}"
        last[k] = int(r["payload"])


def test_reports_name_what_kafka_holds(tmp_path: Path,
                                       cluster: Cluster) -> None:
    cluster.create("py-real", 6)
    d = Daemon(tmp_path, cluster.bootstraps, sections=ACKS_ALL)
    reports: Dict[str, ringside.Report] = {}
    total = 5000
    try:
        with ringside.Client(d.sock, name="py-real") as client:
            topic = client.topic("py-real")

            def keep(v: str) -> Callable[[ringside.Report], None]:
                return lambda r: reports.__setitem__(v, r)

            for i in range(total):
                v = f"value-{i}"
                client.send(topic, v, key=f"k{i % 11}",
                            headers={"seq": str(i)},
                            partition=5 if i % 100 == 0 else None,
                            timestamp=1_700_000_000_000 + i
                            if i % 10 == 0 else None,
                            on_delivery=keep(v))
            assert client.flush(60.0) is True
            # a record spooled (the idempotent producer's first start can
            # outlast backlog_ms) is finished; its final report follows
            deadline = time.monotonic() + 60
            while len(reports) < total and time.monotonic() < deadline:
                client.poll()
                time.sleep(0.01)
    finally:
        d.stop()
    got = cluster.consume("py-real")
    assert len(got) == total  # idempotent acks=all: once each
    assert len(reports) == total
    for r in got:
        rep = reports[r["payload"]]
        i = int(r["payload"].split("-")[1])
        assert rep.status == 0 and rep.error is None
        assert rep.stage == ringside.STAGE_ACKED
        assert rep.persistence == ringside.PERSISTED
        assert (rep.topic, rep.partition, rep.offset) == (
            "py-real", r["partition"], r["offset"])
        assert r["key"] == f"k{i % 11}"
        assert r["headers"] == ["seq", str(i)]
        if i % 100 == 0:
            assert r["partition"] == 5
        if i % 10 == 0:
            assert r["ts"] == 1_700_000_000_000 + i
        assert rep.timestamp == r["ts"]
    by_key: Dict[str, List[int]] = {}
    for r in sorted(got, key=lambda r: (r["partition"], r["offset"])):
        i = int(r["payload"].split("-")[1])
        if i % 100:
            by_key.setdefault(r["key"], []).append(i)
    assert all(s == sorted(s) for s in by_key.values())


def test_daemon_kill9_midstream(tmp_path: Path, cluster: Cluster) -> None:
    cluster.create("py-kill9", 6)
    d = Daemon(tmp_path, cluster.bootstraps, sections=ACKS_ALL)
    total = 20000
    with ringside.Client(d.sock, name="kill9") as client:

        def restart() -> None:
            assert d.kill(signal.SIGKILL) == -signal.SIGKILL
            time.sleep(0.3)
            d.start()  # the session is handed to it by poll()

        send_with_midway(client, client.topic("py-kill9"), total, restart)
    d.stop()
    check_all_there(cluster.consume("py-kill9"), total)


def test_every_broker_silent_then_back(tmp_path: Path,
                                       cluster: Cluster) -> None:
    """SIGSTOP every broker (connections up, nothing answers: a producer
    sees no error, only silence), send, SIGCONT: no send is refused or
    blocks, the spool takes the records, and Kafka has them all."""
    cluster.create("py-silent", 6)
    d = Daemon(tmp_path, cluster.bootstraps, "ring_size = 16M\n",
               sections=ACKS_ALL)
    total = 30000
    final: List[ringside.Report] = []
    slowest = 0.0
    try:
        with ringside.Client(d.sock, name="silent") as client:
            topic = client.topic("py-silent")
            client.send(topic, "warm-up", key="w")
            assert client.flush(30.0)
            for n in (1, 2, 3):
                cluster.broker("pause", n)
            try:
                for i in range(total):
                    t0 = time.perf_counter()
                    client.send(topic, str(i), key=f"k{i % 16}",
                                on_delivery=final.append)
                    slowest = max(slowest, time.perf_counter() - t0)
                    if i % 500 == 0:
                        client.poll()
                        time.sleep(0.01)
                time.sleep(1.0)
            finally:
                for n in (1, 2, 3):
                    cluster.broker("resume", n)
            resumed = time.monotonic()
            # flush() returns once every record is finished, spooled ones
            # too; their final reports come once Kafka has them
            assert client.flush(120.0)
            while len(final) < total and time.monotonic() < resumed + 120:
                client.poll()
                time.sleep(0.01)
            print(f"all {len(final)} final reports "
                  f"{time.monotonic() - resumed:.1f} s after SIGCONT")
    finally:
        d.stop()
    assert len(final) == total
    failed = [r for r in final if r.status != 0]
    assert not failed, failed[:3]
    assert slowest < 0.05, f"a send took {slowest * 1e3:.1f} ms"
    assert "spooling" in d.log.read_text()
    got = [r for r in cluster.consume("py-silent") if r["key"] != "w"]
    check_all_there(got, total)


def test_broker_kill9_midstream(tmp_path: Path, cluster: Cluster) -> None:
    """A broker killed with -9 while records flow (its partitions' leaders
    move): acks=all, nothing fails, nothing is lost. Last: the broker is
    started again but not waited for."""
    cluster.create("py-broker", 6)
    d = Daemon(tmp_path, cluster.bootstraps, sections=ACKS_ALL)
    total = 20000
    failed: List[ringside.Report] = []

    def on_report(r: ringside.Report) -> None:
        if r.status != 0:
            failed.append(r)

    try:
        with ringside.Client(d.sock, name="broker-kill",
                             on_report=on_report) as client:
            send_with_midway(client, client.topic("py-broker"), total,
                             lambda: cluster.broker("kill", 1),
                             flush_timeout=120.0)
    finally:
        d.stop()
        cluster.broker("restart", 1)
    assert not failed, failed[:3]
    check_all_there(cluster.consume("py-broker"), total)
