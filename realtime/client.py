"""A minimal client of the ``/ws`` endpoint (RFC 6455), for thousands of connections at once.

The benchmarks and the connection tests open hundreds or thousands of consoles against one
server; aiohttp's client costs several times more CPU per message, and a client that decodes
every message of thousands of connections measures itself rather than the server. This one is
raw: the upgrade request (:func:`upgrade_request`), masked client frames (:func:`frame`), the
headers of the server's frames (:func:`split_frames`), and :class:`RawConsole`, an asyncio
``Protocol`` that sends the request, reads the answer's head and then hands every whole frame to
its subclass. What a refused upgrade or a frame means (an assertion, a count, a dropped
console) is the subclass's to decide. Nothing in the server imports this module.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import time
from collections.abc import Sequence
from typing import Any, Final

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
#: the close code of a close frame that carries none (RFC 6455 §7.4.1)
NO_STATUS: Final = 1005
NORMAL_CLOSURE: Final = 1000
#: how the answer to the upgrade request begins when the server accepts it
SWITCHING: Final = "HTTP/1.1 101"
_HEAD_END: Final = b"\r\n\r\n"

#: a whole frame in a buffer: (its first byte, where its payload starts, where it ends)
Frame = tuple[int, int, int]


def upgrade_request(host: str, port: int, token: str, *, deflate: bool = False) -> bytes:
    """The HTTP request that opens a WebSocket on ``/ws`` with a bearer token (RFC 6455 §4.1);
    ``deflate`` offers permessage-deflate, as browsers do."""
    return (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(secrets.token_bytes(16)).decode()}\r\n"
        f"Authorization: Bearer {token}\r\n"
        + ("Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else "")
        + "\r\n"
    ).encode()


def subscribe(topics: Sequence[str], since: int | None = None) -> bytes:
    """The text of a ``subscribe`` message; send it as a text frame."""
    body: dict[str, Any] = {"type": "subscribe", "topics": list(topics)}
    if since is not None:
        body["since"] = since
    return json.dumps(body).encode()


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, 0x80 | size])
    elif size < 1 << 16:
        header = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + mask + masked


def split_frames(buffer: bytearray | bytes) -> tuple[list[Frame], int]:
    """The whole unmasked RFC 6455 frames at the start of ``buffer``, as (first byte, payload
    start, payload end) each, and where the bytes of the frame not yet complete begin."""
    frames: list[Frame] = []
    pos, size = 0, len(buffer)
    while size - pos >= 2:
        length, start = buffer[pos + 1] & 0x7F, pos + 2
        if length == 126:
            if size - pos < 4:
                break
            length, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
        elif length == 127:
            if size - pos < 10:
                break
            length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
        if size - start < length:
            break
        frames.append((buffer[pos], start, start + length))
        pos = start + length
    return frames, pos


def close_code(payload: bytes | bytearray) -> int:
    """The code a close frame's payload carries (``NO_STATUS`` when it carries none)."""
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_STATUS


class RawConsole(asyncio.Protocol):
    """One connection to ``/ws``: sends ``request`` once connected, then reads.

    Once the head of the answer has arrived, :meth:`handshake` is called with it: the subclass
    checks it, subscribes, and answers whether to go on. From then on :meth:`on_frame` is
    called with each whole frame, in place in the read buffer, and the wall-clock time of the
    read that completed it (``time.time()``, so that processes of one machine compare).

    :attr:`subscribed` is the subclass's to resolve; should the connection end first, it
    fails. :attr:`closed` resolves when the connection is gone.
    """

    def __init__(self, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._request = request
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        #: the code of the server's close frame, if it sent one
        self.close_code: int | None = None

    def handshake(self, head: str) -> bool:
        """The head of the answer to the upgrade request (status line and headers, latin-1):
        answer True to read frames from now on. The caller must subscribe here."""
        raise NotImplementedError

    def on_frame(self, first: int, buffer: bytearray, start: int, end: int, now: float) -> None:
        """A whole frame: its first byte (FIN, RSV1, opcode) and its payload, ``buffer[start:
        end]``, valid only during the call."""
        raise NotImplementedError

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(ConnectionError(f"closed before subscribing: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self._buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(_HEAD_END)
            if end < 0:
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + len(_HEAD_END)]
            if not self.handshake(head):
                return
            self.upgraded = True
        frames, rest = split_frames(buffer)
        for first, start, end in frames:
            self.on_frame(first, buffer, start, end, now)
        del buffer[:rest]

    # -- for the subclasses --

    def send(self, opcode: int, payload: bytes) -> None:
        """Send one frame, unless the connection is closing."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def closed_by_server(self, payload: bytes | bytearray, *, answer: bool) -> None:
        """The server sent a close frame: note its code; answer it with the same code when
        ``answer``; close the connection."""
        self.close_code = close_code(payload)
        if answer:
            self.send(OP_CLOSE, bytes(payload[:2]))
        if self.transport is not None:
            self.transport.close()
