"""A real WebSocket client through the tunnel: PyPI's `websockets` (asyncio client).

Usage: ws_echo_client.py URL PORT

Connects to URL (ws://NAME.localhost:PORT/path) over TCP to 127.0.0.1:PORT, so no
resolver is needed for the name; the Host header is still the tunnel's. Against an
echo origin it sends a text message, a binary one past one tunnel chunk (16 KiB), and
a ping, then closes with 4002 "done". Prints one JSON line: what came back, or the
HTTP status of a refused handshake (the AWS deployment answers 501).
"""

import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

# Larger than a tunnel BODY chunk (16 KiB raw in JSON frames), so it crosses in pieces.
BINARY = bytes(i % 251 for i in range(40_000))


async def main(url: str, port: int) -> dict:
    try:
        async with connect(url, host="127.0.0.1", port=port, open_timeout=20) as ws:
            await ws.send("hello through the tunnel")
            text = await ws.recv()
            await ws.send(BINARY)
            binary = await ws.recv()
            pong = await ws.ping()
            latency = await asyncio.wait_for(pong, 20)
            await ws.close(code=4002, reason="done")
            return {
                "status": 101,
                "text": text,
                "binary_ok": binary == BINARY,
                "binary_len": len(binary),
                "pong": latency >= 0,
                "close_code": ws.close_code,
            }
    except InvalidStatus as e:
        body = e.response.body or b""
        return {
            "status": e.response.status_code,
            "body": body.decode("utf-8", "replace"),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
