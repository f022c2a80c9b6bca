"""The raw ``/ws`` client of the benchmarks and connection tests: its frames, both ways."""

from __future__ import annotations

import json

import pytest

from realtime.client import (
    NO_STATUS,
    OP_CLOSE,
    OP_TEXT,
    close_code,
    frame,
    split_frames,
    subscribe,
    upgrade_request,
)
from realtime.hub import text_frame


def unmask(sent: bytes) -> tuple[int, bytes]:
    """A masked client frame as the server reads it: (first byte, payload)."""
    assert sent[1] & 0x80, "client frames are always masked"
    size, offset = sent[1] & 0x7F, 2
    if size == 126:
        size, offset = int.from_bytes(sent[2:4], "big"), 4
    elif size == 127:
        size, offset = int.from_bytes(sent[2:10], "big"), 10
    mask, payload = sent[offset : offset + 4], sent[offset + 4 :]
    assert len(payload) == size
    return sent[0], bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_a_client_frame_of_every_length_class_unmasks_to_its_payload(size: int) -> None:
    payload = bytes(range(256)) * (size // 256 + 1)
    assert unmask(frame(OP_TEXT, payload[:size])) == (0x80 | OP_TEXT, payload[:size])


def test_the_server_frames_are_split_whole_and_the_rest_kept() -> None:
    stream = text_frame("a" * 10) + text_frame("b" * 300) + text_frame("c" * 70_000)
    frames, rest = split_frames(stream[:-1])
    assert [(first, end - start) for first, start, end in frames] == [(0x81, 10), (0x81, 300)]
    assert rest == len(text_frame("a" * 10) + text_frame("b" * 300))
    frames, rest = split_frames(stream)
    assert [end - start for _, start, end in frames] == [10, 300, 70_000]
    assert rest == len(stream)


def test_the_subscription_and_the_upgrade_request() -> None:
    assert json.loads(subscribe(["all"])) == {"type": "subscribe", "topics": ["all"]}
    assert json.loads(subscribe(["all"], since=7))["since"] == 7
    request = upgrade_request("127.0.0.1", 8080, "tok", deflate=True).decode()
    assert request.startswith("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert "Authorization: Bearer tok\r\n" in request
    assert "permessage-deflate" in request
    assert request.endswith("\r\n\r\n")


def test_a_close_code_is_read_from_its_payload() -> None:
    assert close_code((1013).to_bytes(2, "big") + b"slow") == 1013
    assert close_code(b"") == NO_STATUS
    assert unmask(frame(OP_CLOSE, b""))[1] == b""
