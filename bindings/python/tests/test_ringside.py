# SPDX-License-Identifier: MIT
"""The ringside package against the real ringsided and a mock cluster in a
process of its own; every test reads the records back with kcat and
compares them with what was sent."""
from __future__ import annotations

import asyncio
import selectors
import signal
import threading
import time
from pathlib import Path
from typing import List

import pytest

import ringside

from conftest import Daemon, Mock, send_with_midway


def values(records: List[dict]) -> List[str]:
    return [r["payload"] for r in records]


def test_send_flush_consume(daemon: Daemon, mock: Mock) -> None:
    reports: List[ringside.Report] = []
    with ringside.Client(daemon.sock, name="pytest") as client:
        topic = client.topic("py")
        assert topic.name == "py"
        for i in range(1000):
            client.send(topic, f"value-{i}".encode(), key=f"k{i % 7}",
                        headers={"seq": str(i), "empty": None},
                        on_delivery=reports.append)
        assert client.flush(30.0) is True
        assert client.state().callbacks_waiting == 0
    assert len(reports) == 1000
    assert all(r.status == 0 and r.error is None for r in reports)
    assert all(r.stage == ringside.STAGE_ACKED and r.offset >= 0
               and r.persistence == ringside.PERSISTED for r in reports)
    got = mock.consume("py")
    assert sorted(values(got)) == sorted(f"value-{i}" for i in range(1000))
    by_value = {r["payload"]: r for r in got}
    for i in (0, 1, 500, 999):
        rec = by_value[f"value-{i}"]
        assert rec["key"] == f"k{i % 7}"
        assert rec["headers"][:2] == ["seq", str(i)]
    # per key, Kafka holds them in the order sent
    for k in range(7):
        seq = [int(r["payload"].split("-")[1]) for r in got
               if r["key"] == f"k{k}"]
        assert sorted(seq) == sorted(set(seq))
        by_part: dict = {}
        for r in got:
            if r["key"] == f"k{k}":
                by_part.setdefault(r["partition"], []).append(
                    int(r["payload"].split("-")[1]))
        assert all(s == sorted(s) for s in by_part.values())


def test_value_types_and_partition(daemon: Daemon, mock: Mock) -> None:
    with ringside.Client(daemon.sock) as client:
        client.send("py", b"bytes", partition=2)
        client.send("py", "str é", partition=2)
        client.send("py", bytearray(b"bytearray"), partition=2)
        client.send("py", memoryview(b"view"), partition=2,
                    timestamp=1_700_000_000_000)
        client.send("py", None, key=b"tomb", partition=2)
        client.flush(10.0)
    got = [r for r in mock.consume("py") if r["partition"] == 2]
    assert values(got) == ["bytes", "str é", "bytearray", "view", None]
    assert got[3]["ts"] == 1_700_000_000_000


def test_errors_are_exceptions(daemon: Daemon, tmp_path: Path) -> None:
    with pytest.raises(ringside.Error) as e:
        ringside.Client(str(tmp_path / "no.sock"), timeout=0.5)
    assert e.value.code == ringside.ENOTCONN
    with ringside.Client(daemon.sock) as client:
        with pytest.raises(ringside.Error) as e:
            client.topic("bad name!")
        assert e.value.code < 0 and e.value.args[1]
        with pytest.raises(TypeError):
            client.send("py", 12345)
        with pytest.raises(TypeError):
            client.send("py", b"x", nope=1)
        with pytest.raises(ValueError):
            client.send("py", b"x", partition=-1)
        with pytest.raises(TypeError):
            client.send("py", b"x", headers=[("a",)])
        with pytest.raises(ringside.Error) as e:
            client.send("py", b"x" * 2_000_000)
        assert e.value.code == ringside.ETOOBIG
    with pytest.raises(ValueError):
        client.send("py", b"after close")


def test_full_raises_at_once_and_loses_nothing(tmp_path: Path,
                                               mock: Mock) -> None:
    d = Daemon(tmp_path, mock.bootstraps, "ring_size = 64K\n"
               "max_record_bytes = 16K\n")
    finals: List[ringside.Report] = []
    try:
        mock.command("down")
        sent = 0
        worst = 0.0
        with ringside.Client(d.sock) as client:
            topic = client.topic("py")
            full = 0
            deadline = time.monotonic() + 15
            while full < 1000 and time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    client.send(topic, f"r{sent}".encode() + b"." * 500,
                                on_delivery=finals.append)
                    sent += 1
                except ringside.Full as e:
                    assert e.code == ringside.EFULL
                    full += 1
                worst = max(worst, time.perf_counter() - t0)
                client.poll()
            assert full == 1000, "the ring never filled"
            # the brokers down, a full ring is refused at once: no send
            # waited for the daemon or for Kafka
            assert worst < 0.05, f"a send took {worst * 1e3:.1f} ms"
            mock.command("up")
            deadline = time.monotonic() + 60
            while len(finals) < sent and time.monotonic() < deadline:
                client.poll()
                time.sleep(0.01)
        assert len(finals) == sent and all(r.status == 0 for r in finals)
        got = mock.consume("py")
        assert sorted(v.split(".")[0] for v in values(got)) == \
            sorted(f"r{i}" for i in range(sent))
    finally:
        d.stop()


def test_kill9_midstream(tmp_path: Path, mock: Mock) -> None:
    d = Daemon(tmp_path, mock.bootstraps)
    total = 20000
    with ringside.Client(d.sock, name="kill9") as client:

        def restart() -> None:
            assert d.kill(signal.SIGKILL) == -signal.SIGKILL
            time.sleep(0.3)
            d.start()  # the session is handed to it by poll()

        send_with_midway(client, client.topic("py"), total, restart,
                         keyed=False, pace=100)
    d.stop()
    got = set(int(v) for v in values(mock.consume("py")))
    missing = set(range(total)) - got
    assert not missing, f"{len(missing)} records lost, e.g. {sorted(missing)[:5]}"


def test_many_threads(daemon: Daemon, mock: Mock) -> None:
    reports = []
    lock = threading.Lock()

    def on(report: ringside.Report) -> None:
        with lock:
            reports.append(report)

    with ringside.Client(daemon.sock) as client:
        def sender(n: int) -> None:
            for i in range(2000):
                while True:
                    try:
                        client.send("py", f"{n}-{i}", key=str(n),
                                    on_delivery=on)
                        break
                    except ringside.Full:
                        time.sleep(0.001)

        threads = [threading.Thread(target=sender, args=(n,))
                   for n in range(8)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            client.poll()
            time.sleep(0.001)
        assert client.flush(30.0)
    assert len(reports) == 16000 and all(r.status == 0 for r in reports)
    got = values(mock.consume("py"))
    assert sorted(got) == sorted(f"{n}-{i}" for n in range(8)
                                 for i in range(2000))


def test_callbacks_are_bounded(daemon: Daemon) -> None:
    client = ringside.Client(daemon.sock, max_callbacks=10)
    seen = []
    for i in range(10):
        client.send("py", str(i), on_delivery=seen.append)
    with pytest.raises(ringside.Full):
        client.send("py", "11", on_delivery=seen.append)
    client.send("py", "no callback")  # sends without one still go
    assert client.state().callbacks_waiting == 10
    assert client.flush(10.0)
    assert len(seen) == 10 and client.state().callbacks_waiting == 0
    client.send("py", "last", on_delivery=seen.append)
    client.close()  # no flush: its callback is let go of, counted
    assert client.callbacks_abandoned == 1
    assert client.closed


def test_callback_exception_propagates(daemon: Daemon) -> None:
    with ringside.Client(daemon.sock) as client:
        def boom(report: ringside.Report) -> None:
            raise RuntimeError("from the callback")

        client.send("py", "x", on_delivery=boom)
        with pytest.raises(RuntimeError, match="from the callback"):
            client.flush(10.0)


def test_fileno_with_selectors(daemon: Daemon) -> None:
    got = []
    with ringside.Client(daemon.sock) as client:
        client.send("py", "sel", on_delivery=got.append)
        sel = selectors.DefaultSelector()
        sel.register(client.fileno(), selectors.EVENT_READ)
        deadline = time.monotonic() + 10
        client.poll_all()  # an empty poll arms the descriptor
        while not got and time.monotonic() < deadline:
            if sel.select(1.0):
                client.poll_all()
        sel.close()
    assert got and got[0].status == 0


def test_asyncio_send_wait(daemon: Daemon, mock: Mock) -> None:
    async def main() -> List[ringside.Report]:
        with ringside.Client(daemon.sock) as client:
            return await asyncio.gather(
                *(client.send_wait("other", f"a{i}", key="k")
                  for i in range(50)))

    reports = asyncio.run(main())
    assert len(reports) == 50 and all(r.status == 0 for r in reports)
    assert all(r.topic == "other" and r.offset >= 0 for r in reports)
    assert sorted(values(mock.consume("other"))) == \
        sorted(f"a{i}" for i in range(50))
