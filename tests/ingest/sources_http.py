"""A department's HTTP JSON API, as a small real server on 127.0.0.1 (for the connector tests).

Paths:
- ``/people?page=N&size=M``: 7 residents, ``{"code": 0, "data": {"items": [...]}}``, pages from 1
- ``/cursor`` and ``/cursor?after=K``: records plus ``{"next": "/cursor?after=K"}`` (a next URL)
- ``/token?cursor=T``: records plus ``{"meta": {"next_cursor": T}}`` (a cursor, not a URL)
- ``/list``: the body is the list itself, one page
- ``/late-field?page=N``: page 2 brings a field page 1 did not have
- ``/secret``: 401 unless the header ``X-Token: s3cret`` is sent
- ``/broken``: 500; ``/html``: an HTML page; ``/slow``: answers after 3 seconds
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

PEOPLE: list[dict[str, Any]] = [
    {"身份证号": "11010119900307123X", "姓名": "张三", "性别": 1, "年龄": 36, "地址": {"区": "东城区"}},
    {"身份证号": "110101199105051234", "姓名": "李四", "性别": 2, "年龄": 35, "地址": None},
    {"身份证号": "110101199206061234", "姓名": "王五", "性别": 1, "年龄": 34.0, "地址": None},
    {"身份证号": "110101199307071234", "姓名": "赵六", "性别": 2, "年龄": None, "地址": None},
    {"身份证号": "110101199408081234", "姓名": "", "性别": 1, "年龄": 32, "地址": None},
    {"身份证号": "110101199509091234", "姓名": "孙八", "性别": 1, "年龄": 31, "地址": None},
    {"身份证号": "110101199610101234", "姓名": "周九", "性别": 2, "年龄": 30, "地址": None},
]


class _Handler(BaseHTTPRequestHandler):
    requests: list[str]  # the paths asked for, in order (set on the class by ``api_server``)

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/people":
            page, size = int(query.get("page", 1)), int(query.get("size", 3))
            items = PEOPLE[(page - 1) * size : page * size]
            self._json({"code": 0, "data": {"items": items, "page": page}})
        elif url.path == "/cursor":
            after = int(query.get("after", 0))
            items = PEOPLE[after : after + 3]
            nxt = f"/cursor?after={after + 3}" if after + 3 < len(PEOPLE) else None
            self._json({"records": items, "next": nxt})
        elif url.path == "/token":
            start = int(query.get("cursor", "0") or 0)
            items = PEOPLE[start : start + 4]
            self._json({"rows": items, "meta": {"next_cursor": str(start + 4) if items else ""}})
        elif url.path == "/list":
            self._json(PEOPLE[:2])
        elif url.path == "/late-field":
            page = int(query.get("page", 1))
            items = [{"a": "1"}] if page == 1 else [{"a": "2", "备注": "新字段"}] if page == 2 else []
            self._json({"items": items})
        elif url.path == "/secret":
            if self.headers.get("X-Token") == "s3cret":
                self._json([{"k": "v"}])
            else:
                self._json({"error": "unauthorized"}, status=401)
        elif url.path == "/broken":
            self._send(500, b"Internal Server Error", "text/plain")
        elif url.path == "/html":
            self._send(200, "<html><body>登录页</body></html>".encode(), "text/html; charset=utf-8")
        elif url.path == "/slow":
            time.sleep(3)
            self._json([{"k": "v"}])
        else:
            self._send(404, b"not found", "text/plain")

    def _json(self, body: Any, status: int = 200) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            self.wfile.write(body)


@contextmanager
def api_server() -> Iterator[tuple[str, list[str]]]:
    """The base URL of a running server and the list of paths it has been asked for."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
