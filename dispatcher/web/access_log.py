"""An access log that never writes a query string: ``/ws?ticket=`` carries a one-time
credential, and v1 clients may still send ``?access_token=`` (refused, but in the URL).

``dispatch serve`` and the demo run without an access log (``access_log=None``); a runner that
wants one passes ``access_log_class=PathOnlyAccessLogger`` instead of aiohttp's default, whose
``%r`` is the request line with its query.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One line per request: address, method, path without its query, status, bytes, time."""

    @property
    def enabled(self) -> bool:
        # as aiohttp's own: a line that will not be emitted is not formatted
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %d %.3fs',
            request.remote,
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )
