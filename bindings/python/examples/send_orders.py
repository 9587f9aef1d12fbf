# SPDX-License-Identifier: MIT
"""Sends ten orders through ringsided and prints each one's fate.

    python3 send_orders.py [SOCKET]
"""
import sys

import ringside


def on_delivery(report: ringside.Report) -> None:
    if report.status == 0:
        print(f"{report.topic} [{report.partition}] @ {report.offset}")
    else:
        print(f"failed: {report.error}")


def main() -> int:
    socket = sys.argv[1] if len(sys.argv) > 1 else None
    with ringside.Client(socket, name="send_orders") as client:
        orders = client.topic("orders")
        for i in range(10):
            try:
                client.send(orders, f'{{"order": {i}}}', key="alice",
                            headers={"source": "example"},
                            on_delivery=on_delivery)
            except ringside.Full:
                print("ring full: the daemon is behind; try again later")
        client.flush(10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
