"""The hub's frames: one RFC 6455 text frame per event, shared by every connection."""

from __future__ import annotations

import struct

import pytest

from realtime.hub import Envelope, Hub, Subscriber, text_frame


def parse(frame: bytes) -> tuple[int, str]:
    """A minimal reader of one unmasked server frame: (opcode byte, text)."""
    first, second = frame[0], frame[1]
    assert second & 0x80 == 0, "server frames are never masked"
    size, offset = second & 0x7F, 2
    if size == 126:
        (size,) = struct.unpack("!H", frame[2:4])
        offset = 4
    elif size == 127:
        (size,) = struct.unpack("!Q", frame[2:10])
        offset = 10
    assert len(frame) == offset + size
    return first, frame[offset:].decode("utf-8")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_frames_of_every_length_class(size: int) -> None:
    text = ("城" * size)[:size]  # multi-byte characters: the length is in bytes
    opcode, decoded = parse(text_frame(text))
    assert opcode == 0x81  # FIN + text
    assert decoded == text


def test_an_event_is_framed_once_for_every_subscriber() -> None:
    hub = Hub()
    subs = [Subscriber(8, lambda _: None) for _ in range(3)]
    for sub in subs:
        hub.go_live(sub, hub.subscribe(sub, ["all"]))
    event = Envelope(1, ("all",), '{"seq":1,"type":"incident.created"}')
    hub.deliver(event)
    frames = [sub.queue.get_nowait() for sub in subs]
    assert all(f is frames[0] for f in frames)  # the very same bytes object
    assert parse(frames[0]) == (0x81, event.raw)


def test_a_full_queue_drops_the_subscriber_once() -> None:
    dropped: list[Subscriber] = []
    hub = Hub()
    sub = Subscriber(2, dropped.append)
    hub.go_live(sub, hub.subscribe(sub, ["all"]))
    for seq in range(1, 6):
        hub.deliver(Envelope(seq, ("all",), f'{{"seq":{seq}}}'))
    assert dropped == [sub]
    assert sub.queue.qsize() == 2
