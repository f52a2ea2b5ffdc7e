"""The HTTP protocol ``prov serve`` runs: uvicorn's httptools protocol with a cap on a
request's head (its request line and headers).

uvicorn buffers a request's head without a limit before the app (and its token check) sees
anything: four connections sending endless headers put 247 MiB on the server. Past
:data:`MAX_HEAD` bytes of a head the connection gets a 431 problem+json and is closed.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["LINGER_S", "MAX_HEAD", "HeadCappedProtocol"]

#: Bytes a request line and its headers may take (nginx allows 32 KiB by default).
MAX_HEAD = 64 << 10
#: Seconds a refused connection is read from (and what it sends dropped) before it is closed:
#: closing on unread input makes the kernel reset it, and the client may lose the answer.
LINGER_S = 5.0

_BODY = json.dumps(
    {
        "type": "urn:prov:problem:headers-too-large",
        "title": "Request header fields too large",
        "status": 431,
        "detail": f"the request line and headers take more than {MAX_HEAD} bytes",
        "exit_code": 2,
    }
).encode()
_REFUSAL = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/problem+json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%b" % (len(_BODY), _BODY)
)


class HeadCappedProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that refuses a request head over :data:`MAX_HEAD` bytes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # received while the current request's head is incomplete
        self._in_head = True
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # dropped until the client hangs up, or the linger ends
        head = self._in_head
        super().data_received(data)
        if head and self._in_head:  # still no end of headers: all of it was head
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse()

    def _refuse(self) -> None:
        self._refused = True
        self.transport.write(_REFUSAL)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then end of stream: the client reads both
        self.loop.call_later(LINGER_S, self.transport.close)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0
