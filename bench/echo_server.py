"""Figure 6's baseline: uvicorn with an app that reads each request body and answers 200, nothing else.

python -m bench.echo_server --port N
"""

from __future__ import annotations

import sys
from typing import Any

_OK = b'{"result":"stored"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        msg = await receive()
        if not msg.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": _OK})


def main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[argv.index("--port") + 1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
