"""The run browser over HTTP: pages, downloads, the live stream, and its safety (traversal, read-only, hosts)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time

import pytest
from _serve_support import make_run, metric_row, raw_get, require_serve_extra, write_log

require_serve_extra()

from an2dl.errors import ConfigError  # noqa: E402
from an2dl.serve.app import ServerThread, bind_socket, host_warning  # noqa: E402

SECRET = "do-not-serve-this"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("serve")
    root = base / "runs"
    a = make_run(root, "mlp-digits", "20260101-000001", lr=0.001)
    make_run(root, "mlp-digits", "20260101-000002", lr=0.01)
    make_run(root, "mlp-digits", "20260101-000003", finished=False, running=True)
    broken = make_run(root, "lenet5-digits", "20260101-000004")
    (broken / "results.json").write_text("{not json")
    (broken / "config.json").write_text("")
    (broken / "metrics.jsonl").write_text('{"epoch": 1, "step": 10, "val/loss": 1.0}\n{"epoch": 2, "st')
    (base / "secret.txt").write_text(SECRET)
    os.symlink(base / "secret.txt", a / "leak.txt")  # a link inside a run, pointing out of RUNS_DIR
    (a / "plots").mkdir()
    os.symlink(base, a / "plots" / "up")
    with ServerThread(root, poll_s=0.1) as server:
        yield server, root, base


def test_run_list_shows_every_run_with_its_status(site):
    server, _, _ = site
    status, body, headers = raw_get(server.url, "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    for run_id, st in [("mlp-digits/20260101-000001", "finished"), ("mlp-digits/20260101-000003", "running"),
                       ("lenet5-digits/20260101-000004", "corrupt")]:
        assert run_id in page and f"status-{st}" in page
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
    runs = json.loads(raw_get(server.url, "/runs.json")[1])
    assert {r["id"]: r["status"] for r in runs}["lenet5-digits/20260101-000004"] == "corrupt"
    csv_text = raw_get(server.url, "/runs.csv")[1].decode()
    assert csv_text.splitlines()[0].startswith("id,recipe,section,status,started,wall_s,")


def test_run_page_data_and_files(site):
    server, root, _ = site
    status, body, _ = raw_get(server.url, "/runs/mlp-digits/20260101-000001/index.html")
    page = body.decode()
    assert status == 200 and f"an2dl resume {root / 'mlp-digits' / '20260101-000001'}" in page
    assert "report.html" in page and "Configuration" in page
    status, _, headers = raw_get(server.url, "/runs/mlp-digits/20260101-000001")
    assert status == 308 and headers["location"].endswith("/20260101-000001/")
    data = json.loads(raw_get(server.url, "/data/mlp-digits/20260101-000001.json")[1])
    assert [r["step"] for r in data["rows"]] == [10, 20, 30, 40, 50]
    assert ["optim.lr", "0.001"] in data["config"]
    assert raw_get(server.url, "/files/mlp-digits/20260101-000001/results.json")[0] == 200
    # the malformed run has a page too, listing what could not be read
    status, body, _ = raw_get(server.url, "/runs/lenet5-digits/20260101-000004/")
    assert status == 200 and b"results.json is not valid JSON" in body and b"line 2 is not valid JSON" in body


@pytest.mark.parametrize("path", [
    "/files/mlp-digits/20260101-000001/../../../secret.txt",
    "/files/mlp-digits/20260101-000001/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "/files/mlp-digits/20260101-000001/..%2f..%2f..%2fsecret.txt",
    "/files/mlp-digits/20260101-000001/%252e%252e/%252e%252e/%252e%252e/secret.txt",
    "/files/mlp-digits/20260101-000001/leak.txt",
    "/files/mlp-digits/20260101-000001/plots/up/secret.txt",
    "/files/mlp-digits/20260101-000001//SECRET_ABS",
    "/files/../secret.txt",
    "/files/%2e%2e/secret.txt",
    "/files/mlp-digits/20260101-000003/.an2dl.lock",
    "/data/../../secret.txt.json",
    "/data/%2e%2e/secret.txt.js",
    "/runs/../../secret.txt/",
    "/static/../../secret.txt",
    "/static/..%2f..%2fapp.py",
    "/api/stream/../secret.txt",
])
def test_nothing_outside_a_run_directory_is_served(site, path):
    server, _, base = site
    path = path.replace("SECRET_ABS", str(base / "secret.txt").lstrip("/"))
    status, body, _ = raw_get(server.url, path)
    assert status in (400, 404), (path, status)
    assert SECRET.encode() not in body and b"pid" not in body


def test_read_only_every_other_method_is_refused(site):
    server, root, _ = site
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/files/mlp-digits/20260101-000001/results.json", "/runs/mlp-digits/20260101-000001/"):
            assert raw_get(server.url, path, method=method)[0] == 405, (method, path)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_foreign_host_names_are_refused(site):
    server, _, _ = site
    assert raw_get(server.url, "/", headers={"Host": "attacker.example"})[0] == 400
    assert raw_get(server.url, "/", headers={"Host": "localhost"})[0] == 200


def _events(url: str, path: str, *, stop: str, timeout: float = 10, on_open=None) -> list[tuple[str, dict]]:
    """Read server-sent events from ``path`` until the event ``stop`` (or the stream ends)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    buf, events, opened = b"", [], False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if not opened and b"\r\n\r\n" in buf:
                opened = True
                if on_open is not None:
                    on_open()
            events = []
            for block in (b for b in buf.split(b"\n\n")[:-1] if b"event: " in b):
                lines = dict(line.split(": ", 1) for line in block.decode().splitlines()
                             if line.startswith(("event: ", "data: ")))
                events.append((lines["event"], json.loads(lines["data"])))
            if any(e == stop for e, _ in events):
                break
    finally:
        sock.close()
    return events


def test_live_stream_sends_rows_as_the_log_grows_then_the_end(site):
    server, root, _ = site
    run = root / "mlp-digits" / "20260101-000003"
    rows = [metric_row(10 * e) for e in range(1, 6)]

    def train():
        for e in range(6, 9):
            time.sleep(0.25)
            rows.append(metric_row(10 * e))
            write_log(run, rows)
        time.sleep(0.25)
        (run / "results.json").write_text(json.dumps({"metrics": {"test/accuracy": 0.9}}))
        (run / ".an2dl.lock").unlink()

    writer = threading.Thread(target=train)
    events = _events(server.url, "/api/stream/mlp-digits/20260101-000003?from=5", stop="end",
                     on_open=writer.start)
    writer.join()
    kinds = [e for e, _ in events]
    assert kinds[0] == "status" and events[0][1] == {"status": "running"}
    steps = [r["step"] for e, d in events if e == "rows" for r in d["rows"]]
    assert steps == [60, 70, 80]
    assert ("status", {"status": "finished"}) in events and kinds[-1] == "end"


def test_a_run_deleted_while_shown_is_gone(site):
    server, root, _ = site
    doomed = make_run(root, "mlp-digits", "20260101-000009", finished=False, running=True)
    assert raw_get(server.url, "/runs/mlp-digits/20260101-000009/")[0] == 200
    events = _events(server.url, "/api/stream/mlp-digits/20260101-000009", stop="gone",
                     on_open=lambda: threading.Timer(0.2, shutil.rmtree, args=(doomed,)).start())
    assert events[-1][0] == "gone"
    status, body, _ = raw_get(server.url, "/runs/mlp-digits/20260101-000009/")
    assert status == 404 and b"deleted" in body
    assert raw_get(server.url, "/api/stream/mlp-digits/20260101-000001?from=-1")[0] == 400


def test_port_in_use_and_hosts():
    with bind_socket("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"port {port} on 127.0.0.1 is in use.*--port \d+"):
            bind_socket("127.0.0.1", port)
    with pytest.raises(ConfigError, match="--port must be an integer from 0 to 65535; got 70000"):
        bind_socket("127.0.0.1", 70000)
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert "anyone who can reach this machine" in host_warning("0.0.0.0")


def test_serve_command_warns_for_other_hosts_and_prints_the_url(tmp_path, monkeypatch, capsys):
    import uvicorn

    from an2dl.cli.main import main

    make_run(tmp_path / "runs", "mlp-digits", "20260101-000001")
    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(sockets[0].getsockname()))
    assert main(["serve", str(tmp_path / "runs"), "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("an2dl: warning: serving on 0.0.0.0: anyone who can reach this machine")
    assert f"at http://0.0.0.0:{served[0][1]}/" in err
    assert main(["serve", str(tmp_path / "runs"), "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "at http://127.0.0.1:" in err
