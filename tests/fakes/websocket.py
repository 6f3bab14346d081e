"""The server side of a WebSocket (RFC 6455) over the fake's HTTP handler: the handshake, and text frames in and out.

Enough for the Realtime API's JSON events: no extensions are accepted (the SDK asks for none), frames from the client
are masked as the RFC requires (an unmasked one closes the connection with 1002), pings are answered."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.server import Call

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Closed(Exception):
    """The client closed the connection (or broke the protocol)."""


def accept(call: Call) -> bool:
    """Answer the upgrade (101); False, after a 400, when the request is not a WebSocket handshake."""
    key = call.headers.get("Sec-WebSocket-Key", "")
    if call.headers.get("Upgrade", "").lower() != "websocket" or not key:
        call.send(400, {"error": {"message": "expected a WebSocket upgrade", "type": "invalid_request_error"}})
        return False
    answer = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    call.send_response(101, "Switching Protocols")
    call.send_header("Upgrade", "websocket")
    call.send_header("Connection", "Upgrade")
    call.send_header("Sec-WebSocket-Accept", answer)
    call.end_headers()
    call.wfile.flush()
    call.close_connection = True
    return True


def send(call: Call, event: dict[str, Any]) -> None:
    _frame(call, TEXT, json.dumps(event).encode())


def close(call: Call, code: int = 1000, reason: str = "") -> None:
    with contextlib.suppress(OSError):
        _frame(call, CLOSE, struct.pack(">H", code) + reason.encode()[:120])


def receive(call: Call) -> dict[str, Any]:
    """The next JSON event from the client; Closed when it closes."""
    message = b""
    while True:
        opcode, fin, payload = _read_frame(call)
        if opcode == PING:
            _frame(call, PONG, payload)
            continue
        if opcode == PONG:
            continue
        if opcode == CLOSE:
            close(call)
            raise Closed
        message += payload
        if fin:
            loaded: dict[str, Any] = json.loads(message)
            return loaded


def _frame(call: Call, opcode: int, payload: bytes) -> None:
    size = len(payload)
    if size < 126:
        head = struct.pack(">BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, size)
    call.wfile.write(head + payload)
    call.wfile.flush()


def _read(call: Call, count: int) -> bytes:
    data = call.rfile.read(count)
    if len(data) < count:
        raise Closed
    return data


def _read_frame(call: Call) -> tuple[int, bool, bytes]:
    first, second = _read(call, 2)
    fin, opcode, masked, size = bool(first & 0x80), first & 0x0F, bool(second & 0x80), second & 0x7F
    if size == 126:
        size = struct.unpack(">H", _read(call, 2))[0]
    elif size == 127:
        size = struct.unpack(">Q", _read(call, 8))[0]
    if not masked:
        close(call, 1002, "client frames must be masked")
        raise Closed
    mask = _read(call, 4)
    payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(_read(call, size)))
    return opcode, fin, payload
