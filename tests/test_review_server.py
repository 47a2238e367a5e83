"""The review server as a hostile client meets it: no URL fetching, no API description, a
login on every route but the login page, and PHI files only in a private folder.

The server runs in this process (``serve(block=False)``) with the stub suggester of
``test_review``. No test touches the network: ``outbound`` replaces the socket functions with
ones that do what the real ones do first (raise the audit event the server's guard listens
to), then record the attempt instead of making it.
"""

from __future__ import annotations

import http.cookiejar
import json
import signal
import socket
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codesuggest.review.files import PrivateFolder, private_root
from codesuggest.review.netguard import allow_outbound, refuse_outbound

PUBLIC = "93.184.216.34"  # what the fake resolver answers; nothing ever connects to it
USER, PASSWORD = "alice", "secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A browser of sorts: keeps the login cookie, returns ``(status, body)``."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(
        self, path: str, data: Any = None, *, form: bool = False, timeout: float = 10
    ) -> tuple[int, bytes]:
        body, headers = None, {}
        if data is not None and form:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()

    def sign_in(self) -> Client:
        status, _ = self.request("/login", {"username": USER, "password": PASSWORD}, form=True)
        assert status == 200
        return self


# The server, with the socket functions replaced as the module docstring says: a lookup of,
# or a connection to, another machine is written to the attempts file instead of being made.
SERVER = """
import json, socket, sys
sys.path.insert(0, {tests!r})
log = open({attempts!r}, "a", buffering=1)
real_lookup, real_connect = socket.getaddrinfo, socket.socket.connect
LOCAL = ("localhost", "127.0.0.1", "::1", "", "None")

def getaddrinfo(host, port, *args, **kwargs):
    if str(host) in LOCAL:
        return real_lookup(host, port, *args, **kwargs)
    sys.audit("socket.getaddrinfo", host, port, 0, 0, 0)  # what the real one does first
    log.write(json.dumps(["lookup", str(host)]) + "\\n")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ({public!r}, port or 80))]

def connect(self, address):
    if self.family not in (socket.AF_INET, socket.AF_INET6) or str(address[0]) in LOCAL:
        return real_connect(self, address)
    sys.audit("socket.connect", self, address)
    log.write(json.dumps(["connect", str(address[0])]) + "\\n")
    raise ConnectionRefusedError("the test refused " + str(address[0]))

socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect

import codesuggest
from codesuggest.cli import main
from codesuggest.codebook import default_codebook
from test_review import StubSuggester

codesuggest.load = lambda *args: StubSuggester(default_codebook())
sys.exit(main(["serve", *{argv!r}]))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``codesuggest serve --auth-file`` with the stub suggester, on a free loopback port."""
    from test_review import stop, wait_for_url

    tmp = tmp_path_factory.mktemp("server")
    users = tmp / "users"
    users.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    argv = ["--port", str(_free_port()), "--db", str(tmp / "a.sqlite3"), "--auth-file", str(users)]
    attempts = tmp / "attempts.jsonl"
    attempts.touch()
    code = SERVER.format(
        tests=str(Path(__file__).parent), attempts=str(attempts), public=PUBLIC, argv=argv
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = wait_for_url(proc).rstrip("/")
        _, config = Client(url).sign_in().request("/config")
        yield {"url": url, "config": json.loads(config), "attempts": attempts}
    finally:
        stop(proc)


class Outbound:
    """The server's attempts to reach another machine since this was made."""

    def __init__(self, server: dict[str, Any]) -> None:
        self.path = server["attempts"]
        self.start = self.path.stat().st_size

    def attempts(self) -> list[list[str]]:
        with self.path.open(encoding="utf-8") as f:
            f.seek(self.start)
            return [json.loads(line) for line in f]


# --------------------------------------------------------------------------- item 12


@pytest.mark.parametrize(
    "path",
    [
        "/gradio_api/file=http://example.com/note.txt",
        "/gradio_api/file=https://example.com/note.txt",
        "/gradio_api/file=HTTP://example.com/note.txt",
        "/gradio_api/file=%68ttp://example.com/note.txt",
        "/gradio_api/file/http://example.com/note.txt",
        "/gradio_api/proxy=http://example.com/note.txt",
    ],
)
def test_file_routes_never_fetch_a_url_even_for_a_signed_in_user(server, path):
    outbound = Outbound(server)
    status, _ = Client(server["url"]).sign_in().request(path)
    assert status == 403
    assert outbound.attempts() == []


def _dependency(config: dict[str, Any], elem_id: str, event: str) -> tuple[int, int]:
    """``(fn_index, component id)`` of the handler of ``event`` on the component ``elem_id``."""
    (cid,) = [c["id"] for c in config["components"] if c["props"].get("elem_id") == elem_id]
    for index, dep in enumerate(config["dependencies"]):
        if [cid, event] in [list(t) for t in dep["targets"]]:
            return index, cid
    raise AssertionError(f"no {event} handler on #{elem_id}")


def _inputs(config: dict[str, Any], fn_index: int, typed: dict[str, Any]) -> list[Any]:
    """What the browser sends to handler ``fn_index``: each input as the screen opens with it,
    but those named in ``typed`` (by ``elem_id``) set to the value given.

    Read from the handler's inputs in the config, so the test calls the handler the screen has
    even after its wiring changes. A ``gr.State`` goes as null, as from the browser: the server
    keeps its value.
    """
    components = {c["id"]: c for c in config["components"]}
    inputs = [components[cid] for cid in config["dependencies"][fn_index]["inputs"]]
    missing = set(typed) - {c["props"].get("elem_id") for c in inputs}
    assert not missing, f"handler {fn_index} has no input {sorted(missing)}"

    def value(component: dict[str, Any]) -> Any:
        if component["props"].get("elem_id") in typed:
            return typed[component["props"]["elem_id"]]
        return None if component["type"] == "state" else component["props"].get("value")

    return [value(c) for c in inputs]


def _run(client: Client, fn_index: int, trigger: int, data: list[Any]) -> list[dict[str, Any]]:
    """Run a handler through the queue as the browser does; returns the queue's messages."""
    session = "test-session"
    status, body = client.request(
        "/gradio_api/queue/join",
        {"data": data, "fn_index": fn_index, "trigger_id": trigger, "session_hash": session},
    )
    assert status == 200, body
    _, stream = client.request(f"/gradio_api/queue/data?session_hash={session}", timeout=30)
    return [json.loads(ln[6:]) for ln in stream.decode().splitlines() if ln.startswith("data: ")]


def test_a_file_input_given_a_url_makes_no_outbound_request(server):
    outbound = Outbound(server)
    fn_index, trigger = _dependency(server["config"], "files-input", "upload")
    url = "http://example.com/note.txt"
    note = {"path": url, "url": url, "orig_name": "note.txt", "meta": {"_type": "gradio.FileData"}}
    data = _inputs(server["config"], fn_index, {"files-input": [note]})
    messages = _run(Client(server["url"]).sign_in(), fn_index, trigger, data)
    done = [m for m in messages if m.get("msg") == "process_completed"]
    assert done
    assert not done[-1]["success"]
    assert outbound.attempts() == []


def test_the_guard_refuses_lookups_and_connections_to_other_machines():
    class Sock:
        family = socket.AF_INET

    refuse_outbound(["10.1.2.3"])
    try:
        with pytest.raises(PermissionError, match="no outbound connections"):
            sys.audit("socket.getaddrinfo", "example.com", 443, 0, 0, 0)
        with pytest.raises(PermissionError):
            sys.audit("socket.connect", Sock(), (PUBLIC, 80))
        sys.audit("socket.getaddrinfo", "localhost", 80, 0, 0, 0)
        sys.audit("socket.connect", Sock(), ("127.0.0.1", 80))
        sys.audit("socket.connect", Sock(), ("::ffff:127.0.0.1", 80))
        sys.audit("socket.connect", Sock(), ("10.1.2.3", 80))  # the address the server binds
    finally:
        allow_outbound()
    sys.audit("socket.getaddrinfo", "example.com", 443, 0, 0, 0)  # switched off again


# --------------------------------------------------------------------------- item 13


@pytest.mark.parametrize(
    "path", ["/openapi.json", "/gradio_api/openapi.json", "/gradio_api/info", "/docs", "/redoc"]
)
def test_no_api_description_is_served_signed_in_or_not(server, path):
    assert Client(server["url"]).request(path)[0] == 404
    assert Client(server["url"]).sign_in().request(path)[0] == 404


def test_every_route_but_the_login_page_needs_a_login(server):
    fn_index, trigger = _dependency(server["config"], "suggest-btn", "click")
    anyone = Client(server["url"])
    assert anyone.request("/")[0] == 200  # the login page
    data = _inputs(server["config"], fn_index, {"note-input": "Type 2 diabetes."})
    call = {"data": data, "fn_index": fn_index}
    for path, data in [
        ("/config", None),
        ("/gradio_api/queue/join", {**call, "session_hash": "s", "trigger_id": trigger}),
        ("/gradio_api/run/predict", call),
        ("/gradio_api/cancel", {"session_hash": "s", "fn_index": fn_index, "event_id": "e"}),
        ("/gradio_api/heartbeat/s", None),
        ("/gradio_api/upload_progress?upload_id=x", None),
        ("/gradio_api/user", None),
    ]:
        status, _ = anyone.request(path, data, timeout=5)
        assert status == 401, path


def test_a_hidden_handler_runs_by_fn_index_only_after_signing_in(server):
    from test_review import NOTE

    fn_index, trigger = _dependency(server["config"], "suggest-btn", "click")
    data = _inputs(server["config"], fn_index, {"note-input": NOTE})
    join = {"data": data, "fn_index": fn_index, "trigger_id": trigger, "session_hash": "anyone"}
    assert Client(server["url"]).request("/gradio_api/queue/join", join)[0] == 401
    messages = _run(Client(server["url"]).sign_in(), fn_index, trigger, data)
    assert [m["success"] for m in messages if m.get("msg") == "process_completed"] == [True]


# --------------------------------------------------------------------------- item 15


def test_uploads_go_to_a_private_folder_only_the_user_can_read(server):
    boundary = "codesuggest-test"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="n.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nType 2 diabetes.\r\n--{boundary}--\r\n"
    ).encode()
    client = Client(server["url"]).sign_in()
    req = urllib.request.Request(
        server["url"] + "/gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with client.opener.open(req, timeout=10) as r:
        (stored,) = json.loads(r.read())
    assert Path(stored).is_relative_to(private_root())
    folder = private_root() / Path(stored).relative_to(private_root()).parts[0]
    for private in (private_root(), folder, folder / "uploads", folder / "exports"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700


KILLED = """
import os, signal
from codesuggest.review.files import PrivateFolder
f = PrivateFolder({root!r})
(f.exports / "visit-7.json").write_text("note text", encoding="utf-8")
print(f.path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_folder_of_a_killed_server_is_removed_by_the_next_start(tmp_path):
    running = PrivateFolder(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED.format(root=str(tmp_path))], capture_output=True, text=True
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    killed = Path(proc.stdout.strip())
    assert (killed / "exports" / "visit-7.json").exists()
    started = PrivateFolder(tmp_path)
    assert not killed.exists()
    assert running.path.is_dir()  # a server still running keeps its folder
    started.close()
    running.close()
    assert list(tmp_path.iterdir()) == []


def test_serve_removes_its_private_folder_when_it_is_stopped(tmp_path):
    from test_review import start_server, stop, wait_for_url

    before = set(private_root().glob("server-*"))
    proc = start_server(tmp_path, "--reviewer", "alice")
    try:
        wait_for_url(proc)
        (mine,) = set(private_root().glob("server-*")) - before
        assert (mine / "exports").is_dir()
    finally:
        stop(proc)  # SIGTERM, as systemd or kill sends
    assert proc.returncode in (0, 130)  # stopped as by Ctrl-C, not killed by the signal
    assert not mine.exists()


def test_private_folder_tightens_a_root_made_with_a_loose_umask(tmp_path):
    root = tmp_path / "files"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    folder = PrivateFolder(root)
    try:
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        assert stat.S_IMODE(folder.path.stat().st_mode) == 0o700
    finally:
        folder.close()
