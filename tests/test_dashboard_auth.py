"""``segments dashboard --basic-auth``: the login flow over plain HTTP, and the default listen address.

The dashboard runs as a real process (``python -m segments dashboard``) on a free port; the tests talk
to it with ``http.client`` (no browser, no redirects followed), so each answer of the server is seen as
it is: a redirect to the login page, the login page, a refused or accepted login, the cookie, the app.

The store is empty on purpose: authentication happens before the app is built, and the app's page
(its title, a Bokeh session token) is told from the login form without training a model.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from tests.support.processes import Process, cli_env, free_port, segments_command, started, wait_until

pytestmark = pytest.mark.slow

USER, PASSWORD = "analyst", "correct horse battery staple"
SECRET = "0123456789abcdef" * 4
#: A fresh process imports panel, bokeh and the app before it listens.
START_TIMEOUT = 120
HTTP_TIMEOUT = 60


@dataclass
class Answer:
    """One HTTP answer to a request for ``path``: status, headers (lower-case names), cookies set, body."""

    path: str
    status: int
    headers: dict[str, str]
    cookies: SimpleCookie
    body: str

    @property
    def location(self) -> str:
        """Where a redirect points, resolved against the request's path (Panel sends ``./login?…``)."""
        return urllib.parse.urljoin(self.path, self.headers.get("location", ""))


def request(port: int, method: str, path: str, *, cookies: dict[str, str] | None = None, form=None) -> Answer:
    """Send one request to 127.0.0.1:``port`` and return the answer as is (redirects not followed)."""
    headers = {}
    body = None
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        jar = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar.load(header)
        return Answer(
            path,
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            jar,
            response.read().decode("utf-8", errors="replace"),
        )
    finally:
        connection.close()


def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


@dataclass
class Dashboard:
    """A started ``segments dashboard`` process and its port."""

    process: Process
    port: int


@contextlib.contextmanager
def dashboard(folder: Path, *extra: str) -> Iterator[Dashboard]:
    """Start ``segments dashboard --port P EXTRA…`` on an empty store; it never outlives the block."""
    port = free_port()
    env = cli_env(MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    command = segments_command("dashboard", "--port", port, *extra)
    with started(command, env, folder, f"dashboard-{port}") as process:

        def up() -> bool:
            if not process.running():
                pytest.fail(f"segments dashboard exited:\n{process.result(process.popen.returncode).describe()}")
            return listening(port)

        wait_until(up, timeout=START_TIMEOUT, what=f"segments dashboard listening on port {port}", interval=0.2)
        yield Dashboard(process, port)


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "users.json"
    path.write_text(json.dumps({USER: PASSWORD, "viewer": "another password"}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory, users_file: Path) -> Iterator[Dashboard]:
    """The dashboard behind basic auth with a users file and a fixed cookie secret."""
    folder = tmp_path_factory.mktemp("protected")
    with dashboard(folder, "--basic-auth", str(users_file), "--cookie-secret", SECRET) as server:
        yield server


def login(port: int, username: str, password: str) -> Answer:
    """Open the login page (as a browser does after the redirect), then post the form."""
    page = request(port, "GET", "/login?next=%2F")
    cookies = {name: morsel.value for name, morsel in page.cookies.items()}
    return request(port, "POST", "/login", cookies=cookies, form={"username": username, "password": password})


def assert_sent_to_login(answer: Answer) -> None:
    assert answer.status in {301, 302, 303, 307}, answer
    assert urllib.parse.urlsplit(answer.location).path == "/login", answer.location


def assert_app_page(answer: Answer) -> None:
    """The dashboard's own page (a Bokeh session of the app), not the login form."""
    assert answer.status == 200, answer
    assert 'name="password"' not in answer.body
    assert '<meta name="title" content="Customer segments">' in answer.body  # the app's page title
    assert "Bokeh.embed.embed_items" in answer.body  # ... and a live session of it
    assert '"token":' in answer.body


def test_anonymous_visitor_is_sent_to_the_login_page(protected: Dashboard) -> None:
    answer = request(protected.port, "GET", "/")
    assert_sent_to_login(answer)
    page = request(protected.port, "GET", answer.location)
    assert page.status == 200
    assert 'name="username"' in page.body
    assert 'name="password"' in page.body
    assert "embed_items" not in page.body  # nothing of the app before the login
    assert "Customer segments" not in page.body


def test_wrong_credentials_do_not_log_in(protected: Dashboard) -> None:
    for username, password in ((USER, "wrong password"), ("intruder", PASSWORD), (USER, ""), ("viewer", PASSWORD)):
        answer = login(protected.port, username, password)
        assert_sent_to_login(answer)
        assert "error=" in answer.location  # the login page says why
        assert "user" not in answer.cookies, f"{username!r} got a session cookie with a wrong password"
        cookies = {name: morsel.value for name, morsel in answer.cookies.items()}
        assert_sent_to_login(request(protected.port, "GET", "/", cookies=cookies))


def test_right_credentials_set_a_signed_cookie_that_opens_the_app(protected: Dashboard) -> None:
    answer = login(protected.port, USER, PASSWORD)
    assert answer.status in {301, 302, 303, 307}, answer
    assert urllib.parse.urlsplit(answer.location).path == "/"
    user = answer.cookies["user"]
    assert user["httponly"], "the session cookie must not be readable by scripts"
    assert user.value != USER, "the cookie must be signed, not the bare user name"
    assert_app_page(request(protected.port, "GET", "/", cookies={"user": user.value}))


def test_forged_or_tampered_cookies_are_refused(protected: Dashboard) -> None:
    signed = login(protected.port, USER, PASSWORD).cookies["user"].value
    tampered = signed[:-4] + ("AAAA" if not signed.endswith("AAAA") else "BBBB")
    for value in (USER, "viewer", tampered):
        assert_sent_to_login(request(protected.port, "GET", "/", cookies={"user": value}))


def test_login_survives_a_restart_with_the_same_cookie_secret(
    tmp_path: Path, users_file: Path, protected: Dashboard
) -> None:
    signed = login(protected.port, USER, PASSWORD).cookies["user"].value
    with dashboard(tmp_path / "same", "--basic-auth", str(users_file), "--cookie-secret", SECRET) as restarted:
        assert_app_page(request(restarted.port, "GET", "/", cookies={"user": signed}))
    with dashboard(tmp_path / "other", "--basic-auth", str(users_file), "--cookie-secret", "f" * 64) as other:
        assert_sent_to_login(request(other.port, "GET", "/", cookies={"user": signed}))


def _listen_addresses(port: int) -> set[str]:
    """Addresses with a socket listening on ``port``, read from ``/proc/net/tcp`` and ``tcp6``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:  # 0A = LISTEN
                    if len(address) == 8:  # IPv4, little-endian bytes
                        found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                    else:
                        words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)]
                        found.add(socket.inet_ntop(socket.AF_INET6, b"".join(words)))
    return found


def _outward_address() -> str | None:
    """This machine's address on its default route, or None without one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, only used to pick the interface
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_listens_on_localhost_only_by_default(protected: Dashboard) -> None:
    assert _listen_addresses(protected.port) == {"127.0.0.1"}
    outward = _outward_address()
    if outward is not None:  # a machine without a network has nothing more to check
        assert not listening(protected.port, outward), f"the dashboard answers on {outward}"
