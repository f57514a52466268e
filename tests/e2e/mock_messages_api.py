"""A local mock of the Anthropic Messages API for driving the real Claude Code CLI.

The server listens on 127.0.0.1 (port chosen by the OS) in a daemon thread:

    with MockMessagesAPI(script) as api:
        run claude with ANTHROPIC_BASE_URL=api.url
        api.requests            # every request, parsed
        api.message_requests    # the POST /v1/messages ones, as MessagesRequest

What it answers is decided by a *script*: a callable taking a :class:`MessagesRequest`
and returning a :class:`Reply` (or a list of blocks, or a str, or ``None`` for "not
mine"), or a list of such callables tried in order. Anything no script claims gets a
short harmless text answer, so side requests of the client (title generation, haiku
calls, ...) never advance a scenario: scenarios are keyed on request *content*
(markers in the prompt, ids of our own tool_use blocks), never on call counts.

:class:`StepScenario` is the building block for multi-step tool scenarios: it starts
when the last user message contains its marker, and it moves on when the last message
carries the tool_result of a tool_use id it emitted itself (the step index is encoded
in the id). :func:`rich_session_scenario` (in ``scenarios.py``) builds on it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import urlsplit

__all__ = [
    "MessagesRequest",
    "MockMessagesAPI",
    "RecordedRequest",
    "Reply",
    "StepScenario",
    "default_reply",
    "sse_events",
    "text",
    "thinking",
    "tool_use",
]

# --------------------------------------------------------------------------- replies


def text(s: str) -> dict[str, Any]:
    """A text content block."""
    return {"type": "text", "text": s}


_tool_counter = itertools.count(1)


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    """A tool_use content block (the client will really run the tool)."""
    if id is None:
        id = f"toolu_mock{next(_tool_counter):04d}_{uuid.uuid4().hex[:8]}"
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def thinking(s: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": s, "signature": "mock-signature"}


@dataclass
class Reply:
    """One assistant message. ``stop_reason`` defaults to ``tool_use`` when a block is one."""

    blocks: list[dict[str, Any]]
    stop_reason: str | None = None
    usage: dict[str, int] | None = None

    def resolved_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        if any(b.get("type") == "tool_use" for b in self.blocks):
            return "tool_use"
        return "end_turn"


ReplyLike = Union[Reply, Sequence[dict], str, None]  # noqa: UP007 (runtime alias, py3.10)
Script = Callable[["MessagesRequest"], ReplyLike]


def as_reply(value: ReplyLike) -> Reply | None:
    if value is None:
        return None
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply([text(value)])
    if isinstance(value, dict):
        return Reply([value])
    return Reply(list(value))


# --------------------------------------------------------------------------- requests


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: Any  # parsed JSON, raw str if not JSON, None if empty


def _content_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _block_text(block: dict[str, Any]) -> str:
    """All text of a block, including nested tool_result content."""
    t = block.get("type")
    if t == "text":
        return str(block.get("text", ""))
    if t == "tool_result":
        c = block.get("content")
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return "\n".join(_block_text(x) for x in c if isinstance(x, dict))
        return ""
    if t == "tool_use":
        inp = block.get("input", {})
        return json.dumps(inp, ensure_ascii=False) + "\n" + "\n".join(_strings(inp))
    if t == "thinking":
        return str(block.get("thinking", ""))
    return ""


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (tool inputs), unescaped."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class MessagesRequest:
    """A parsed ``POST /v1/messages`` body with helpers for scripts and assertions."""

    def __init__(self, body: dict[str, Any], path: str = "/v1/messages", headers: dict | None = None):
        self.body = body
        self.path = path
        self.headers = headers or {}

    # raw fields
    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.tools if isinstance(t, dict) and t.get("name")]

    def has_tool(self, name: str) -> bool:
        return name in self.tool_names

    def pick_tool(self, *candidates: str) -> str | None:
        """The first of ``candidates`` the client offers in this request, else None."""
        names = self.tool_names
        for c in candidates:
            if c in names:
                return c
        return None

    def tool_schema(self, name: str) -> dict[str, Any] | None:
        for t in self.tools:
            if t.get("name") == name:
                return t.get("input_schema") or {}
        return None

    @property
    def system_text(self) -> str:
        s = self.body.get("system")
        if isinstance(s, str):
            return s
        if isinstance(s, list):
            return "\n".join(str(b.get("text", "")) for b in s if isinstance(b, dict))
        return ""

    # messages
    @property
    def last_message(self) -> dict[str, Any]:
        """The last user/assistant message (newer clients append ``system``-role context)."""
        for m in reversed(self.messages):
            if m.get("role") in ("user", "assistant"):
                return m
        return {}

    @property
    def last_blocks(self) -> list[dict[str, Any]]:
        return _content_blocks(self.last_message)

    @property
    def last_user_text(self) -> str:
        """Text blocks of the last message when it is a user message (not tool results)."""
        if self.last_message.get("role") != "user":
            return ""
        return "\n".join(str(b.get("text", "")) for b in self.last_blocks if b.get("type") == "text")

    @property
    def last_tool_results(self) -> list[dict[str, Any]]:
        if self.last_message.get("role") != "user":
            return []
        return [b for b in self.last_blocks if b.get("type") == "tool_result"]

    @property
    def first_user_text(self) -> str:
        for m in self.messages:
            if m.get("role") == "user":
                return "\n".join(
                    str(b.get("text", "")) for b in _content_blocks(m) if b.get("type") == "text"
                )
        return ""

    def all_text(self) -> str:
        """Every piece of text in the conversation (prompts, tool inputs, tool results, replies)."""
        parts = []
        for m in self.messages:
            for b in _content_blocks(m):
                parts.append(_block_text(b))
        return "\n".join(parts)

    def tool_result_for(self, tool_use_id: str) -> dict[str, Any] | None:
        for m in self.messages:
            for b in _content_blocks(m):
                if b.get("type") == "tool_result" and b.get("tool_use_id") == tool_use_id:
                    return b
        return None

    def tool_uses(self) -> list[dict[str, Any]]:
        """Every tool_use block the assistant sent in this conversation."""
        out: list[dict[str, Any]] = []
        for m in self.messages:
            if m.get("role") == "assistant":
                out.extend(b for b in _content_blocks(m) if b.get("type") == "tool_use")
        return out

    @property
    def working_directory(self) -> str | None:
        """The working directory the client last told the model about.

        Older clients state ``Working directory: X`` in the system prompt; newer ones put
        ``Primary working directory: X`` in a system-role message and, after a change
        (e.g. resuming a session of another folder), ``... X (was Y)``. The last one wins.
        """
        hay = self.system_text + "\n" + "\n".join(
            _block_text(b) for m in self.messages for b in _content_blocks(m))
        found = re.findall(r"(?:Primary working directory|Working directory):\s*([^\n]*)", hay)
        if not found:
            return None
        return re.sub(r"\s+\(was .*\)$", "", found[-1]).strip() or None

    def __repr__(self) -> str:
        return (
            f"MessagesRequest(model={self.model!r}, n_messages={len(self.messages)}, "
            f"tools={len(self.tools)}, last={self.last_user_text[:60]!r})"
        )


# --------------------------------------------------------------------------- scenarios


@dataclass
class StepScenario:
    """A linear scenario of assistant turns keyed on request content.

    It starts when the last message is a user prompt containing ``marker`` and answers
    ``steps[0]``. Every tool_use id the scenario emits is rewritten to
    ``toolu_<tag>_<step>_<n>``; when a later request's last message holds a tool_result
    for such an id, the scenario answers the following step. Steps are replies or
    callables ``(MessagesRequest) -> reply``. A step reached past the end answers
    ``final_text``. Requests not matching return None (other scripts / default reply).

    Deferred tools: when a step calls a tool that the request's ``tools`` array does not
    hold but ``ToolSearch`` is offered (newer clients load e.g. ``TaskCreate`` on
    demand), the scenario first answers ``ToolSearch select:<names>`` (id
    ``toolu_<tag>_<step>_s``) and re-plays the same step when its result comes back.
    """

    marker: str
    steps: list[Any]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    final_text: str = "Done."
    auto_tool_search: bool = True
    # filled in as the scenario runs, for assertions: step index -> tool_use blocks sent
    emitted: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def _id_re(self) -> re.Pattern[str]:
        return re.compile(rf"^toolu_{re.escape(self.tag)}_(\d+)_(\d+|s)$")

    def owns(self, tool_use_id: str) -> bool:
        return bool(self._id_re().match(tool_use_id))

    def step_for(self, req: MessagesRequest) -> int | None:
        results = req.last_tool_results
        if results:
            rx = self._id_re()
            idx = []
            for b in results:
                m = rx.match(str(b.get("tool_use_id", "")))
                if m:
                    idx.append(int(m.group(1)) + (0 if m.group(2) == "s" else 1))
            return max(idx) if idx else None
        if req.last_message.get("role") == "user" and self.marker in req.last_user_text:
            return 0
        return None

    def __call__(self, req: MessagesRequest) -> Reply | None:
        i = self.step_for(req)
        if i is None:
            return None
        if i >= len(self.steps):
            return Reply([text(self.final_text)])
        step = self.steps[i]
        value = step(req) if callable(step) else step
        reply = as_reply(value)
        if reply is None:
            return None
        if self.auto_tool_search and req.tools and req.has_tool("ToolSearch"):
            missing = [b["name"] for b in reply.blocks
                       if b.get("type") == "tool_use" and not req.has_tool(b["name"])]
            if missing:
                return Reply([tool_use("ToolSearch",
                                       {"query": "select:" + ",".join(dict.fromkeys(missing)),
                                        "max_results": max(5, len(missing))},
                                       id=f"toolu_{self.tag}_{i}_s")])
        blocks = []
        n = 0
        for b in reply.blocks:
            if b.get("type") == "tool_use":
                b = dict(b, id=f"toolu_{self.tag}_{i}_{n}")
                n += 1
            blocks.append(b)
        self.emitted[i] = [b for b in blocks if b.get("type") == "tool_use"]
        return Reply(blocks, reply.stop_reason, reply.usage)


def default_reply(req: MessagesRequest) -> Reply:
    """Harmless answer for anything no script claims (titles, summaries, side calls)."""
    sys_text = req.system_text.lower()
    if not req.tools and "title" in sys_text:
        # title generators in some versions ask for JSON
        if "json" in sys_text:
            return Reply([text('{"title": "Mock session"}')])
        return Reply([text("Mock session")])
    return Reply([text("OK.")])


# --------------------------------------------------------------------------- SSE


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _usage(req_body: dict[str, Any], reply: Reply, output_tokens: int) -> dict[str, int]:
    base = {
        "input_tokens": 10 + len(json.dumps(req_body.get("messages", []))) // 40,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    if reply.usage:
        base.update(reply.usage)
    return base


def message_json(req_body: dict[str, Any], reply: Reply, msg_id: str) -> dict[str, Any]:
    out_tokens = max(1, sum(len(_block_text(b)) for b in reply.blocks) // 4)
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": req_body.get("model") or "claude-mock",
        "content": reply.blocks,
        "stop_reason": reply.resolved_stop_reason(),
        "stop_sequence": None,
        "usage": _usage(req_body, reply, out_tokens),
    }


def sse_events(req_body: dict[str, Any], reply: Reply, msg_id: str) -> bytes:
    """The byte stream the real API sends for ``reply`` with ``stream: true``."""
    full = message_json(req_body, reply, msg_id)
    start_usage = dict(full["usage"], output_tokens=1)
    out = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": dict(full, content=[], stop_reason=None, stop_sequence=None, usage=start_usage),
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    for i, b in enumerate(reply.blocks):
        t = b.get("type")
        if t == "text":
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                    "content_block": {"type": "text", "text": ""}}))
            s = b.get("text", "")
            for chunk in _chunks(s, 40) or [""]:
                out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                        "delta": {"type": "text_delta", "text": chunk}}))
        elif t == "tool_use":
            out.append(_sse("content_block_start", {
                "type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}},
            }))
            js = json.dumps(b.get("input", {}))
            for chunk in [""] + _chunks(js, 64):
                out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                        "delta": {"type": "input_json_delta",
                                                                  "partial_json": chunk}}))
        elif t == "thinking":
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": i,
                                                    "content_block": {"type": "thinking", "thinking": "",
                                                                      "signature": ""}}))
            out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                    "delta": {"type": "thinking_delta",
                                                              "thinking": b.get("thinking", "")}}))
            out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                    "delta": {"type": "signature_delta",
                                                              "signature": b.get("signature", "sig")}}))
        else:
            raise ValueError(f"unsupported block type for streaming: {t!r}")
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(_sse("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": full["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": full["usage"]["output_tokens"]},
    }))
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def _chunks(s: str, n: int) -> list[str]:
    return [s[i:i + n] for i in range(0, len(s), n)]


# --------------------------------------------------------------------------- server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr logging
        pass

    # -- helpers
    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = bytearray()
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            raw = bytes(data)
        else:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if enc == "gzip":
            raw = gzip.decompress(raw)
        elif enc == "deflate":
            raw = zlib.decompress(raw)
        elif enc == "br":
            pass  # not expected; recorded raw
        return raw

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", "req_mock_" + uuid.uuid4().hex[:12])
        self.send_header("anthropic-organization-id", "00000000-0000-0000-0000-000000000000")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self.wfile.flush()

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _record(self, body: Any) -> RecordedRequest:
        split = urlsplit(self.path)
        rec = RecordedRequest(self.command, split.path, split.query,
                              {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.api._lock:
            self.server.api.requests.append(rec)
        return rec

    def _parse(self, raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    # -- verbs
    def do_HEAD(self) -> None:
        self._record(None)
        self._send(200, b"", "text/plain")

    def do_GET(self) -> None:
        rec = self._record(None)
        if rec.path.rstrip("/") in ("", "/health"):
            self._send(200, b"ok", "text/plain")
        elif rec.path.startswith("/v1/models"):
            self._json(200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        else:
            self._json(404, {"type": "error", "error": {"type": "not_found_error",
                                                         "message": f"mock: no {rec.path}"}})

    def do_POST(self) -> None:
        body = self._parse(self._read_body())
        rec = self._record(body)
        path = rec.path.rstrip("/")
        api = self.server.api
        if path == "/v1/messages/count_tokens":
            n = len(json.dumps(body)) // 4 if body is not None else 1
            self._json(200, {"input_tokens": max(1, n)})
            return
        if path == "/v1/messages" and isinstance(body, dict):
            req = MessagesRequest(body, rec.path, rec.headers)
            try:
                reply = api.answer(req)
            except Exception as exc:  # noqa: BLE001 - a broken script must be visible, not hang the client
                api.errors.append(exc)
                self._json(500, {"type": "error", "error": {"type": "api_error",
                                                             "message": f"mock script error: {exc!r}"}})
                return
            msg_id = "msg_mock_" + uuid.uuid4().hex[:16]
            if req.stream:
                self._send(200, sse_events(body, reply, msg_id), "text/event-stream",
                           {"Cache-Control": "no-cache"})
            else:
                self._json(200, message_json(body, reply, msg_id))
            return
        # anything else (event logging, metrics, oauth, ...): harmless empty success
        self._json(200, {})

    do_PUT = do_POST
    do_PATCH = do_POST

    def do_DELETE(self) -> None:
        self._record(None)
        self._json(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    api: MockMessagesAPI


class MockMessagesAPI:
    """The mock server. Use as a context manager, or ``start()`` / ``stop()``.

    ``script``: a callable ``(MessagesRequest) -> Reply | list[block] | str | None`` or a
    list of such callables, tried in order; the first non-None answer wins, else
    :func:`default_reply`. ``set_script`` / ``add_script`` change it while running.
    """

    def __init__(self, script: Script | Iterable[Script] | None = None, host: str = "127.0.0.1"):
        self._lock = threading.Lock()
        self.scripts: list[Script] = []
        self.set_script(script)
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self.host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # scripts
    def set_script(self, script: Script | Iterable[Script] | None) -> None:
        if script is None:
            scripts: list[Script] = []
        elif callable(script):
            scripts = [script]
        else:
            scripts = list(script)
        with self._lock:
            self.scripts = scripts

    def add_script(self, script: Script) -> None:
        with self._lock:
            self.scripts.append(script)

    def answer(self, req: MessagesRequest) -> Reply:
        with self._lock:
            scripts = list(self.scripts)
        for s in scripts:
            r = as_reply(s(req))
            if r is not None:
                return r
        return default_reply(req)

    # lifecycle
    def start(self) -> MockMessagesAPI:
        if self._server is not None:
            return self
        self._server = _Server((self.host, 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="mock-messages-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> MockMessagesAPI:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # assertions
    @property
    def message_requests(self) -> list[MessagesRequest]:
        with self._lock:
            recs = list(self.requests)
        return [MessagesRequest(r.body, r.path, r.headers) for r in recs
                if r.method == "POST" and r.path.rstrip("/") == "/v1/messages" and isinstance(r.body, dict)]

    def requests_with(self, needle: str) -> list[MessagesRequest]:
        """Message requests whose conversation text contains ``needle``."""
        return [r for r in self.message_requests if needle in r.all_text()]

    def requests_started_by(self, marker: str) -> list[MessagesRequest]:
        """Message requests of the conversation whose first user prompt contains ``marker``
        (the main agent's requests, resumed runs included; not its sub-agents')."""
        return [r for r in self.message_requests if marker in r.first_user_text]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.errors.clear()


# A tiny demo: `python mock_messages_api.py` serves forever and prints its URL.
if __name__ == "__main__":  # pragma: no cover
    import time

    with MockMessagesAPI() as api:
        print(api.url, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
