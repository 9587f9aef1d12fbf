# SPDX-License-Identifier: MIT
"""Per-call cost of a send from Python, side by side in one run:
ringside's Client.send(), confluent-kafka's Producer.produce() and (if
installed) kafka-python's KafkaProducer.send(), against the same cluster,
healthy and with every broker down. Prints a Markdown table: median, p99
and max per call, sends refused (an exception), records delivered in the
end, and records/s from the first send to the last report (with the
brokers down, that includes the outage: they come back once the sends
are done).

    RINGSIDED=... RS_MOCK=... python3 bench.py [N] [--real]

By default the cluster is librdkafka's mock (rs_mock, a process of its
own; "down": every broker refuses connections), which kafka-python cannot
bootstrap from. With --real it is Apache Kafka (tests/kafka/cluster.sh:
three brokers, Java and Maven needed; "down": every broker stopped with
SIGSTOP, so connections stay up and nothing answers).
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from conftest import Cluster, Daemon, Mock  # noqa: E402

import ringside  # noqa: E402

VALUE = b"x" * 100
OUTAGE_S = 5.0  # how long every broker stays down once the sends are done
KEY = b"key-0001"


def timed(n: int, send: Callable[[int], None],
          budget_s: float = 60.0) -> Tuple[List[float], int]:
    """Per-call microseconds and the number of calls that raised; once the
    sends have taken budget_s, the rest are not made and count as refused
    (a send that blocks up to a timeout each time would take hours)."""
    times = []
    refused = 0
    start = time.monotonic()
    for i in range(n):
        if time.monotonic() - start > budget_s:
            refused += n - i
            break
        t0 = time.perf_counter_ns()
        try:
            send(i)
        except Exception:  # noqa: BLE001 (every library's refusal)
            refused += 1
        times.append((time.perf_counter_ns() - t0) / 1e3)
    return times, refused


def row(name: str, times: List[float], refused: int, delivered: int,
        seconds: float) -> str:
    """seconds: from the first send to the last report."""
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1]
    return (f"| {name} | {statistics.median(times):.2f} | {p99:.2f} | "
            f"{times[-1]:.0f} | {refused} | {delivered} | "
            f"{delivered / seconds:,.0f} |")


class Target:
    """A cluster to send to: bootstraps, topic, command("down"/"up")."""

    bootstraps: str
    topic: str

    def command(self, what: str) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        pass


class MockTarget(Target):
    """rs_mock: every broker refuses connections while down."""

    def __init__(self) -> None:
        self.mock = Mock(3, ["bench:16"])
        self.bootstraps = self.mock.bootstraps
        self.topic = "bench"

    def command(self, what: str) -> None:
        self.mock.command(what)

    def stop(self) -> None:
        self.mock.stop()


class RealTarget(Target):
    """Apache Kafka: every broker SIGSTOPped while down."""

    def __init__(self, cluster: Cluster, topic: str) -> None:
        self.cluster = cluster
        cluster.create(topic, 16)
        self.bootstraps = cluster.bootstraps
        self.topic = topic

    def command(self, what: str) -> None:
        for b in (1, 2, 3):
            self.cluster.broker("pause" if what == "down" else "resume", b)


def bench_ringside(mock: "Target", n: int, down: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(Path(tmp), mock.bootstraps, "ring_size = 64M\n")
        got = [0]

        def on(report: ringside.Report) -> None:
            got[0] += (report.status == 0
                       and report.stage != ringside.STAGE_SPOOLED)

        try:
            with ringside.Client(d.sock, on_report=on) as c:
                topic = c.topic(mock.topic)
                c.send(topic, VALUE, key=KEY)  # metadata first, as below
                c.flush(30)
                while got[0] < 1:
                    c.poll_all()
                    time.sleep(0.001)
                got[0] = 0
                if down:
                    mock.command("down")
                t0 = time.monotonic()
                times, refused = timed(
                    n, lambda i: c.send(topic, VALUE, key=KEY))
                if down:
                    time.sleep(OUTAGE_S)
                    mock.command("up")
                deadline = time.monotonic() + 180
                while got[0] < n - refused and time.monotonic() < deadline:
                    c.poll_all()
                    time.sleep(0.001)
                t1 = time.monotonic()
        finally:
            d.stop()
    return row("ringside Client.send()", times, refused, got[0], t1 - t0)


def bench_confluent(mock: "Target", n: int, down: bool) -> str:
    import confluent_kafka

    got = [0]

    def on(err, msg) -> None:  # noqa: ANN001
        got[0] += err is None

    p = confluent_kafka.Producer({"bootstrap.servers": mock.bootstraps,
                                  "acks": "all", "linger.ms": 5,
                                  "message.timeout.ms": 30000})
    p.produce(mock.topic, VALUE, KEY, on_delivery=on)  # metadata first
    p.flush(10)
    got[0] = 0
    if down:
        mock.command("down")
    t0 = time.monotonic()
    times, refused = timed(
        n, lambda i: p.produce(mock.topic, VALUE, KEY, on_delivery=on)
        if i % 1000 else (p.poll(0), p.produce(mock.topic, VALUE, KEY,
                                                on_delivery=on)))
    if down:
        time.sleep(OUTAGE_S)
        mock.command("up")
    p.flush(60)
    return row("confluent-kafka Producer.produce()", times, refused, got[0],
               time.monotonic() - t0)


def bench_kafka_python(mock: "Target", n: int, down: bool) -> str:
    try:
        import kafka
    except ImportError:
        return "| kafka-python | not installed | | | | | |"
    try:
        p = kafka.KafkaProducer(bootstrap_servers=mock.bootstraps,
                                acks="all", linger_ms=5, max_block_ms=1000)
        p.send(mock.topic, VALUE, KEY).get(10)
    except Exception as e:  # noqa: BLE001
        return f"| kafka-python KafkaProducer.send() | no metadata from " \
               f"the cluster: {type(e).__name__} | | | | | |"
    if down:
        mock.command("down")
    futs = []
    t0 = time.monotonic()
    times, refused = timed(
        n, lambda i: futs.append(p.send(mock.topic, VALUE, KEY)))
    if down:
        time.sleep(OUTAGE_S)
        mock.command("up")
    try:
        p.flush(120)
    except Exception:  # noqa: BLE001 (counted below as not delivered)
        pass
    t1 = time.monotonic()
    ok = sum(1 for f in futs if f.succeeded())
    p.close(5)
    return row("kafka-python KafkaProducer.send()", times, refused, ok,
               t1 - t0)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    real = "--real" in sys.argv
    n = int(args[0]) if args else 100000
    cluster = None
    if real:
        tmp = tempfile.mkdtemp(prefix="rs-bench-kafka-")
        cluster = Cluster(Path(tmp))
    print(f"{n} sends of 100 B with an 8-byte key, acks=all, per call in us, "
          f"{'Apache Kafka' if real else 'the mock cluster'}\n")
    try:
        run = 0
        for down in (False, True):
            print(f"### {'every broker down' if down else 'healthy'}\n")
            print("| send | median | p99 | max | refused | delivered | "
                  "records/s, first send to last report |")
            print("|---|---|---|---|---|---|---|")
            for fn in (bench_ringside, bench_confluent, bench_kafka_python):
                run += 1
                target: Target = (RealTarget(cluster, f"bench{run}")
                                  if cluster else MockTarget())
                try:
                    print(fn(target, n, down), flush=True)
                finally:
                    target.stop()
            print()
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    if "RINGSIDED" not in os.environ:
        sys.exit("set RINGSIDED and RS_MOCK (see tests/python.sh)")
    main()
