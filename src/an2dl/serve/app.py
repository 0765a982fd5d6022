"""``an2dl serve``: the run browser as a small ASGI application (Starlette, served by uvicorn).

Read-only: every route answers ``GET``/``HEAD`` only (anything else is 405)
and nothing writes to RUNS_DIR.  Files are served only from inside a listed
run directory (:meth:`~an2dl.serve.runs.RunIndex.file`), after following
symbolic links.  Bound to 127.0.0.1 by default, with requests whose ``Host``
is not a loopback name refused (a web page elsewhere cannot reach the runs
through DNS rebinding); another ``--host`` is allowed with a warning.

A running run's page follows its metric log through server-sent events
(``/api/stream/<run id>``): ``rows`` (new log rows), ``reset`` (the log was
rewritten shorter, as a resumed run does), ``status``, ``gone`` (the
directory was deleted) and ``end``.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

try:
    import anyio
    import uvicorn
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as _missing:  # pragma: no cover - depends on the installation
    raise ConfigError(f"an2dl serve needs the serve extra (missing module {_missing.name!r}): "
                      "pip install 'an2dl[serve]'") from None

from .pages import compare_page, index_page, not_found_page, run_data, run_data_script, run_page, runs_csv
from .runs import RunIndex, files_signature, read_metric_rows, recipe_facts, summarize

__all__ = ["create_app", "serve_runs", "bind_socket", "host_warning", "ServerThread", "LOOPBACK_HOSTS", "STATIC_DIR"]

#: host names that reach this machine only
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: the page's own script and style sheet
STATIC_DIR = Path(__file__).resolve().parent / "static"
_STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
_CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")


class _SecurityHeaders:
    """Adds a Content-Security-Policy (own scripts only), ``nosniff`` and no-referrer to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", _CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def create_app(runs_dir: str | Path, *, live: bool = True, poll_s: float = 0.5,
               allowed_hosts: list[str] | None = None) -> Starlette:
    """The run browser over ``runs_dir`` as an ASGI application.

    Args:
        runs_dir: RUNS_DIR, the folder that holds the run directories.
        live: stream running runs' metrics (the static site has no stream).
        poll_s: how often a stream looks at the metric log, seconds.
        allowed_hosts: accepted ``Host`` header names (default: the loopback names);
            ``["*"]`` accepts any.

    Raises:
        ConfigError: ``runs_dir`` does not exist, is a file or is a run directory itself.
    """
    index = RunIndex(runs_dir)
    if poll_s <= 0:
        raise ConfigError(f"poll_s must be a positive number of seconds; got {poll_s!r}")
    # the notes' sections come from the recipe registry, whose import takes seconds: start it now, so that
    # it is done by the time a browser asks for the first page
    threading.Thread(target=recipe_facts, args=("",), daemon=True).start()

    def missing(what: str) -> HTMLResponse:
        return HTMLResponse(not_found_page(what), status_code=404)

    def home(request: Request) -> HTMLResponse:
        return HTMLResponse(index_page(index.runs(), root=str(index.root), live=live),
                            headers={"Cache-Control": "no-store"})

    def runs_json(request: Request) -> Response:
        body = json.dumps([s.to_json() for s in index.runs()], indent=1)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    def runs_csv_file(request: Request) -> Response:
        return Response(runs_csv(index.runs()), media_type="text/csv", headers={"Cache-Control": "no-store"})

    def compare(request: Request) -> HTMLResponse:
        return HTMLResponse(compare_page(live=live))

    def _details(run_id: str) -> dict[str, Any] | None:
        run_dir = index.find(run_id)
        if run_dir is None:
            return None
        try:
            return index.details(run_dir)
        except OSError:  # deleted (or made unreadable) while it was being read
            return None

    def run(request: Request) -> Response:
        path: str = request.path_params["path"]
        if path.endswith("/index.html"):
            run_id = path[: -len("/index.html")]
        elif path.endswith("/"):
            run_id = path[:-1]
        else:
            return RedirectResponse(request.url.path + "/", status_code=308)
        details = _details(run_id)
        if details is None:
            return missing(f"There is no run {run_id!r} in {index.root} (it may have been deleted).")
        return HTMLResponse(run_page(details, live=live), headers={"Cache-Control": "no-store"})

    def data(request: Request) -> Response:
        path: str = request.path_params["path"]
        stem, dot, ext = path.rpartition(".")
        details = _details(stem) if dot and ext in ("js", "json") else None
        if details is None:
            return missing(f"No run data at {path!r}.")
        doc = run_data(details)
        if ext == "js":
            return Response(run_data_script(doc), media_type="text/javascript", headers={"Cache-Control": "no-store"})
        return Response(json.dumps(doc), media_type="application/json", headers={"Cache-Control": "no-store"})

    def files(request: Request) -> Response:
        parts = request.path_params["path"].split("/")
        for i in range(1, len(parts)):
            run_id, rest = "/".join(parts[:i]), "/".join(parts[i:])
            if index.find(run_id) is not None:
                target = index.file(run_id, rest)
                if target is not None:
                    return FileResponse(target, headers={"Cache-Control": "no-store"})
                break
        return missing("No such file in a run directory.")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return missing(f"No static file {name!r}.")
        return FileResponse(STATIC_DIR / name, media_type=_STATIC[name])

    async def stream(request: Request) -> Response:
        run_id: str = request.path_params["path"]
        run_dir = index.find(run_id)
        if run_dir is None:
            return missing(f"There is no run {run_id!r}.")
        try:
            start = int(request.query_params.get("from", "0"))
            if start < 0:
                raise ValueError
        except ValueError:
            return Response(f"'from' must be a non-negative row count; got {request.query_params.get('from')!r}",
                            status_code=400, media_type="text/plain")

        async def events():
            sent, signature, status, quiet_since = start, None, None, time.monotonic()
            yield "retry: 2000\n\n"
            while True:
                if not run_dir.is_dir():
                    yield _sse("gone", {"id": run_id})
                    return
                sig = files_signature(run_dir, ("metrics.jsonl", "metrics.csv"))
                if sig != signature:
                    signature = sig
                    rows, _ = await run_in_threadpool(read_metric_rows, run_dir)
                    if len(rows) < sent:
                        yield _sse("reset", {"rows": rows})
                        sent, quiet_since = len(rows), time.monotonic()
                    elif len(rows) > sent:
                        yield _sse("rows", {"from": sent, "rows": rows[sent:]})
                        sent, quiet_since = len(rows), time.monotonic()
                try:
                    now = (await run_in_threadpool(summarize, index.root, run_dir, with_log=False)).status
                except OSError:
                    continue  # deleted meanwhile: the next round says "gone"
                if now != status:
                    status = now
                    yield _sse("status", {"status": status})
                if status != "running":
                    yield _sse("end", {"rows": sent})
                    return
                if time.monotonic() - quiet_since > 15:
                    yield ": still running\n\n"
                    quiet_since = time.monotonic()
                await anyio.sleep(poll_s)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    routes = [
        Route("/", home, methods=["GET"]),
        Route("/index.html", home, methods=["GET"]),
        Route("/compare.html", compare, methods=["GET"]),
        Route("/runs.json", runs_json, methods=["GET"]),
        Route("/runs.csv", runs_csv_file, methods=["GET"]),
        Route("/runs/{path:path}", run, methods=["GET"]),
        Route("/data/{path:path}", data, methods=["GET"]),
        Route("/files/{path:path}", files, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/api/stream/{path:path}", stream, methods=["GET"]),
        # the runs' own report.html pages name no icon: answer the browser's request without an error
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
    ]
    hosts = list(allowed_hosts) if allowed_hosts is not None else [h for h in LOOPBACK_HOSTS] + ["[::1]"]

    async def not_found(request: Request, exc: Exception) -> HTMLResponse:
        return missing(f"Nothing at {request.url.path!r}.")

    app = Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                               Middleware(_SecurityHeaders)],
                    exception_handlers={404: not_found})
    app.state.index = index
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free port).

    Raises:
        ConfigError: the port is in use (the message suggests a free one), or the host cannot be bound.
    """
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"--port must be an integer from 0 to 65535; got {port!r}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as e:
        raise ConfigError(f"--host {host!r} is not an address of this machine: {e.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))
                free = probe.getsockname()[1]
            raise ConfigError(f"port {port} on {host} is in use (another an2dl serve?); "
                              f"choose another, e.g. --port {free}") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def host_warning(host: str) -> str | None:
    """The warning for a host other than the loopback names (``None`` for those)."""
    if host in LOOPBACK_HOSTS:
        return None
    return (f"serving on {host}: anyone who can reach this machine on that address can read every run under "
            "RUNS_DIR (configurations, metrics, models); use the default --host 127.0.0.1 to keep it local")


def serve_runs(runs_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8050, poll_s: float = 0.5) -> None:
    """Serve the run browser until interrupted (Ctrl+C).  Prints the URL; warns for a non-loopback host.

    Raises:
        ConfigError: bad RUNS_DIR, port in use, host not bindable.
    """
    warning = host_warning(host)
    app = create_app(runs_dir, poll_s=poll_s, allowed_hosts=None if warning is None else ["*"])
    sock = bind_socket(host, port)
    if warning:
        print(f"an2dl: warning: {warning}", file=sys.stderr)
    url = _url(host, sock.getsockname()[1])
    print(f"an2dl: serving the runs in {app.state.index.root} at {url} (Ctrl+C stops)", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=2))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class ServerThread:
    """The run browser served from a background thread (tests, benchmarks, screenshots).

    Use as a context manager; :attr:`url` ends with ``/``.
    """

    def __init__(self, runs_dir: str | Path, *, host: str = "127.0.0.1", port: int = 0, poll_s: float = 0.5,
                 live: bool = True) -> None:
        self.app = create_app(runs_dir, poll_s=poll_s, live=live)
        self._sock = bind_socket(host, port)
        self.url = _url(host, self._sock.getsockname()[1])
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False,
                                                     lifespan="off", timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the run browser did not start within 10 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
