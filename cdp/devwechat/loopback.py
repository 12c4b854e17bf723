"""An ASGI app served by uvicorn on 127.0.0.1 (a free port unless one is named), in a thread
with its own event loop, so a test, a browser or cdp reaches it over real HTTP whatever the
caller's own loop is doing (the tests' fakes, and the sandbox's WeChat stand-in)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    def __init__(
        self, app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "on", port: int = 0
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan=lifespan, timeout_keep_alive=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
