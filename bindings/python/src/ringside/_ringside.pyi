# SPDX-License-Identifier: MIT
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Tuple, Union

Bytesish = Union[bytes, bytearray, memoryview, str, None]
Headers = Union[Mapping[str, Bytesish], Iterable[Tuple[str, Bytesish]], None]

EFULL: int
ETOOBIG: int
ENOTCONN: int
EINVAL: int
ETOPIC: int
EPROTO: int
EDENIED: int
ELIMIT: int
ETIMEDOUT: int
EDROPPED: int
EMSG_TIMEOUT: int
ERECORD_TOO_LARGE: int
EUNKNOWN_TOPIC: int
EAUTH: int
ESHUTDOWN: int
EKAFKA: int
STAGE_FAILED: int
STAGE_ACKED: int
STAGE_SENT: int
STAGE_SPOOLED: int
NOT_PERSISTED: int
POSSIBLY_PERSISTED: int
PERSISTED: int

class Error(Exception):
    code: int

class Full(Error): ...

class Report(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    status: int
    error: Optional[str]
    kafka_error: int
    stage: int
    persistence: int

class State(NamedTuple):
    backpressure: str
    ring_size: int
    ring_used: int
    records_finished: int
    reports_dropped: int
    callbacks_waiting: int

class Topic:
    @property
    def name(self) -> str: ...

class Client:
    def __init__(self, socket: Optional[str] = ..., name: Optional[str] = ...,
                 timeout: float = ..., reconnect: bool = ...,
                 on_report: Optional[Callable[[Report], Any]] = ...,
                 max_callbacks: int = ...) -> None: ...
    def topic(self, name: str) -> Topic: ...
    def send(self, topic: Union[str, Topic], value: Bytesish,
             key: Bytesish = ..., headers: Headers = ...,
             partition: Optional[int] = ..., timestamp: Optional[int] = ...,
             on_delivery: Optional[Callable[[Report], Any]] = ...) -> None: ...
    def poll(self) -> int: ...
    def flush(self, timeout: Optional[float] = ...) -> bool: ...
    def fileno(self) -> int: ...
    def state(self) -> State: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def callbacks_abandoned(self) -> int: ...

def strerror(code: int) -> str: ...
def library_version() -> str: ...
