"""A consumer's webhook receiver for the delivery tests: a real uvicorn server on 127.0.0.1.

It checks the signature, applies each version once by its ``Idempotency-Key`` (a repeat is counted, not
applied again) and keeps the consumer's copy of the rows. The test makes it misbehave as receivers do:
``stop()`` (down: connections refused), ``mode = "error"`` (answers 500), ``mode = "slow"`` (answers after
``delay`` seconds, after the sender gave up: the version was applied here but not acknowledged there).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jutong.exchange.delivery import sign


@dataclass
class Receiver:
    secret: str = ""
    mode: str = "ok"  # ok | error | slow
    delay: float = 1.5
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)  # every request, in arrival order
    applied: list[int] = field(default_factory=list)  # versions applied, in order
    duplicates: list[str] = field(default_factory=list)  # idempotency keys seen again
    bad_signatures: int = 0
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # the consumer's copy, by key
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        mode = self.mode
        if mode == "slow":
            await asyncio.sleep(self.delay)
        payload = json.loads(body)
        key = request.headers.get("idempotency-key", "")
        self.received.append({"key": key, "version": payload["version"], "mode": mode, "payload": payload})
        if request.headers.get("x-jutong-signature") != sign(self.secret, body):
            self.bad_signatures += 1
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if mode == "error":
            return JSONResponse({"error": "内部错误"}, status_code=500)
        if key in {r["key"] for r in self.received[:-1] if r.get("done")}:
            self.duplicates.append(key)
        else:
            for change in payload["changes"]:
                row_key = json.dumps(change["key"], sort_keys=True, ensure_ascii=False)
                if change["op"] == "D":
                    self.rows.pop(row_key, None)
                else:
                    self.rows[row_key] = change["row"]
            self.applied.append(payload["version"])
        self.received[-1]["done"] = True
        return JSONResponse({"ok": True})

    def start(self) -> Receiver:
        if self.port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("receiver did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
