"""Who may read ``GET /metrics``: loopback, and the networks of ``DISPATCH_METRICS_NETWORKS``.

The address is the TCP peer's, never a forwarded header: a scraper reaches each server
directly (``app1:8080``), and the balancer answers ``/metrics`` to no one but itself
(deploy/nginx.conf), so a request it forwards is never taken for the scraper's. No private
range is trusted as such: Docker's bridge gateway (an address of 172.16.0.0/12) is what some
set-ups present for every outside client of a published port.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def may_scrape(address: str | None, networks: Iterable[Network] | None) -> bool:
    """Whether a peer at ``address`` may read the metrics. None (a Unix socket: only this
    host can connect) may; an address that is not an IP may not."""
    if address is None:
        return True
    try:
        peer = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer.is_loopback or any(peer in net for net in networks or ())


def peer_address(request: web.Request) -> str | None:
    """The TCP peer's address; None over a Unix socket; "" when neither is known."""
    transport = request.transport
    if transport is None:
        return ""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer and isinstance(peer[0], str):
        return str(peer[0])
    sock = transport.get_extra_info("socket")
    if sock is not None and getattr(sock, "family", None) == socket.AF_UNIX:
        return None
    return ""
