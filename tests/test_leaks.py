"""Secrets and personal data never leak: logs, errors, reprs, CLI output, stores, reports.

One module-scoped run serves an organisation with very small departments on a loopback fake
API configured with distinctive fake secrets, then drives the CLI (in process and once as a
subprocess with ``-vv``), the client's failure paths and ``report --pseudonymise`` while capturing
everything, and greps all of it for the secrets. The same store checks suppression and
pseudonymisation of the pseudonymised pages and of a pseudonymised CSV export.
"""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import logging
import os
import re
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from awareness_analysis.api.auth import MimecastHmacAuth, OAuthClientAuth
from awareness_analysis.api.config import HmacCredentials, OAuthCredentials, Settings, load_settings
from awareness_analysis.api.endpoints import list_campaigns
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.app import load_analysis
from awareness_analysis.cli import main
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.errors import AwarenessAnalysisError
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer
from awareness_analysis.views.widgets import UserExplorer
from tests.conftest import _campaign

# -- distinctive fake secrets ----------------------------------------------------------------

ACCESS_KEY = "AKLEAKCHECK0001"
SECRET_RAW = b"SECRETBYTES-LEAKCHECK-0123456789"
SECRET_B64 = base64.b64encode(SECRET_RAW).decode()
APP_ID = "appid-public-0001"
APP_KEY = "APPKEY-LEAKCHECK"
WRONG_APP_KEY = "WRONGAPPKEY-LEAKCHECK"
CLIENT_ID = "clientid-public-0001"
CLIENT_SECRET = "CLIENTSECRET-LEAKCHECK"
WRONG_CLIENT_SECRET = "WRONGCLIENTSECRET-LEAKCHECK"
PSEUDONYM_KEY = "5eed" * 16  # 64 hex characters: the report's pseudonymisation key

CREDENTIALS = FakeCredentials(
    access_key=ACCESS_KEY,
    secret_key=SECRET_B64,
    app_id=APP_ID,
    app_key=APP_KEY,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
)

STATIC_NEEDLES = [
    ACCESS_KEY,
    SECRET_B64,
    SECRET_B64.rstrip("="),
    SECRET_RAW.decode(),
    SECRET_RAW.hex(),
    base64.urlsafe_b64encode(SECRET_RAW).decode(),
    APP_KEY,
    WRONG_APP_KEY,
    CLIENT_SECRET,
    WRONG_CLIENT_SECRET,
    base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),  # HTTP Basic form
    PSEUDONYM_KEY,
    "LEAKCHECK",  # the common marker of every secret above
    "Authorization: MC",
]
#: A bearer token value (not a source line such as ``f"Bearer {self.token()}"``).
BEARER_VALUE = re.compile(r"Bearer\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
FAKE_CREDENTIALS_REPR = "FakeCredentials repr"

# -- an organisation with very small departments --------------------------------------------

MIN_GROUP = 5
DEPARTMENTS = {
    "Lighthouse Desk": 1,
    "Orchard Pair": 2,
    "Tri Ridge Team": 3,
    "Quartet Studio": 4,
    "Seven Seas Ops": 7,
    "Main Floor Crew": 40,
}
SMALL_DEPARTMENTS = [name for name, size in DEPARTMENTS.items() if size < MIN_GROUP]
FIRST = ["Ottoline", "Barnaby", "Wilhelmina", "Crispin", "Philippa", "Ignatius", "Rosamund"]
LAST = ["Quennell", "Featherstone", "Ashcombe", "Pendragon", "Tolliver", "Winterbourne"]


def tiny_org() -> FakeDataset:
    people = []
    n = 0
    for department, size in DEPARTMENTS.items():
        for _ in range(size):
            first, last = FIRST[n % len(FIRST)], LAST[(n // len(FIRST)) % len(LAST)]
            people.append((f"{first} {last}", f"{first}.{last}{n}@tiny-org.example", department))
            n += 1
    cycle = ["SENT", "CORRECT", "INCORRECT", "CORRECT"]

    def items(offset: int, questions: int) -> list[dict]:
        return [
            {
                "name": name,
                "email": email,
                "department": department,
                "results": {
                    f"forQuestion{q}": cycle[(i + offset + q) % len(cycle)]
                    for q in range(1, questions + 1)
                },
                "acknowledgement": (i + offset) % 2 == 0,
                "userState": "ACTIVE",
            }
            for i, (name, email, department) in enumerate(people)
        ]

    first_items, second_items = items(0, 2), items(1, 3)
    return FakeDataset(
        campaigns=[
            _campaign("camp-tiny-1", "Tiny Phishing", 2, first_items),
            _campaign("camp-tiny-2", "Tiny Passwords", 3, second_items),
        ],
        users={"camp-tiny-1": first_items, "camp-tiny-2": second_items},
    )


# -- the captured run -------------------------------------------------------------------------


@dataclass
class Run:
    store: Path
    reports: Path
    key_dir: Path
    texts: dict[str, str] = field(default_factory=dict)  # what was captured, by where
    exit_codes: dict[str, int] = field(default_factory=dict)
    signatures: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    kernel_pids: set[int] = field(default_factory=set)
    tcp_listeners: set[tuple[int, str, int]] = field(default_factory=set)

    def add(self, where: str, text: str) -> None:
        self.texts[where] = self.texts.get(where, "") + text

    def needles(self) -> list[str]:
        return STATIC_NEEDLES + sorted(self.signatures) + sorted(self.tokens)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # includes exc_info tracebacks


def _error_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


class _ListenWatcher:
    """Polls (psutil) for TCP listening sockets of this process's children (report kernels)."""

    def __init__(self, run: Run) -> None:
        import psutil

        self.psutil = psutil
        self.run = run
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = self.psutil.Process()
        while not self.stop.is_set():
            for child in me.children(recursive=True):
                with contextlib.suppress(self.psutil.Error):
                    self.run.kernel_pids.add(child.pid)
                    for conn in child.net_connections(kind="inet"):
                        if conn.status == self.psutil.CONN_LISTEN:
                            self.run.tcp_listeners.add((child.pid, conn.laddr.ip, conn.laddr.port))
            self.stop.wait(0.05)

    def __enter__(self) -> _ListenWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(5)


def _cli(run: Run, where: str, *argv: str) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    run.add(f"{where} stdout", out.getvalue())
    run.add(f"{where} stderr", err.getvalue())
    run.exit_codes[where] = code
    return code


def _collect_auth(run: Run, server: FakeMimecastServer) -> None:
    for request in server.requests:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("MC ") and ":" in authorization:
            run.signatures.add(authorization.rsplit(":", 1)[1])
        elif authorization.startswith("Bearer "):
            run.tokens.add(authorization.removeprefix("Bearer ").strip())
    run.tokens.update(server._tokens)  # every token the fake ever issued


def _hmac_settings(server: FakeMimecastServer, app_key: str = APP_KEY) -> Settings:
    creds = HmacCredentials(ACCESS_KEY, SECRET_B64, APP_ID, app_key)
    return Settings(base_url=server.base_url, credentials=creds)


def _library_failures(run: Run, server: FakeMimecastServer, store: Path) -> None:
    """Errors, their messages and reprs from the library, plus reprs of every object."""
    fast = RetryPolicy(backoff_initial_s=0.01, backoff_max_s=0.01)
    no_sleep = lambda _s: None  # noqa: E731
    with MimecastClient(_hmac_settings(server, WRONG_APP_KEY), retry=fast) as client:
        with pytest.raises(AwarenessAnalysisError) as caught:
            list_campaigns(client)
        run.add("wrong app key error", _error_text(caught.value))
        run.add("reprs", repr(client) + repr(client.auth) + repr(client.settings))
    bad_oauth = Settings(server.base_url, OAuthCredentials(CLIENT_ID, WRONG_CLIENT_SECRET))
    with MimecastClient(bad_oauth, retry=fast) as client:
        with pytest.raises(AwarenessAnalysisError) as caught:
            list_campaigns(client)
        run.add("wrong client secret error", _error_text(caught.value))
        run.add("reprs", repr(client) + repr(client.auth) + repr(client.settings))
    good_oauth = Settings(server.base_url, OAuthCredentials(CLIENT_ID, CLIENT_SECRET))
    with MimecastClient(good_oauth, retry=fast, sleep=no_sleep) as client:
        list_campaigns(client)
        assert isinstance(client.auth, OAuthClientAuth) and client.auth.tokens_fetched == 1
        run.tokens.add(client.auth.token())
        server.expire_tokens()  # token_expired -> a fresh token and a logged retry
        list_campaigns(client)
        run.tokens.add(client.auth.token())
        server.inject("fail_permanent")
        with pytest.raises(AwarenessAnalysisError) as caught:
            list_campaigns(client)
        run.add("permanent failure error", _error_text(caught.value))
        run.add("reprs", repr(client) + repr(client.auth) + str(client.auth) + repr(good_oauth))
    with MimecastClient(_hmac_settings(server), retry=fast, sleep=no_sleep) as client:
        server.inject("fail_retryable", times=7)  # more than max_attempts: gives up
        with pytest.raises(AwarenessAnalysisError) as caught:
            list_campaigns(client)
        run.add("retries exhausted error", _error_text(caught.value))
        assert isinstance(client.auth, MimecastHmacAuth)
        run.add("reprs", repr(client) + repr(client.auth) + str(client.settings))
    for environ in (
        {
            "MIMECAST_BASE_URL": server.base_url,
            "MIMECAST_ACCESS_KEY": ACCESS_KEY,
            "MIMECAST_SECRET_KEY": "not base64 " + SECRET_B64,
            "MIMECAST_APP_ID": APP_ID,
            "MIMECAST_APP_KEY": APP_KEY,
        },
        {
            "MIMECAST_BASE_URL": "http://example.com",
            "MIMECAST_CLIENT_ID": CLIENT_ID,
            "MIMECAST_CLIENT_SECRET": CLIENT_SECRET,
        },
        {"MIMECAST_ACCESS_KEY": ACCESS_KEY, "MIMECAST_SECRET_KEY": SECRET_B64},
    ):
        with pytest.raises(AwarenessAnalysisError) as caught:
            load_settings(environ)
        run.add("config errors", _error_text(caught.value))
    run.add(FAKE_CREDENTIALS_REPR, repr(CREDENTIALS) + str(CREDENTIALS))
    settings = _hmac_settings(server)
    snapshot = SnapshotStore(store).load()
    run.add(
        "reprs",
        "\n".join(
            [
                repr(settings),
                str(settings),
                repr(settings.credentials),
                str(settings.credentials),
                repr(OAuthCredentials(CLIENT_ID, CLIENT_SECRET)),
                repr(MimecastHmacAuth(settings.credentials)),
                repr(server),
                repr(snapshot),
                repr(snapshot.manifest),
                repr(SnapshotStore(store)),
            ]
        ),
    )


def _subprocess_fetch(run: Run, server: FakeMimecastServer, store: Path) -> None:
    exe = Path(sys.executable).with_name("awareness-analysis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_")}
    env.update(server.environment())
    server.inject("fail_retryable")
    server.inject("rate_limit", reset_ms=100)
    done = subprocess.run(
        [str(exe), "-vv", "fetch", "--out", str(store), "--full", "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    run.add("subprocess fetch -vv stdout", done.stdout)
    run.add("subprocess fetch -vv stderr", done.stderr)
    run.exit_codes["subprocess fetch -vv"] = done.returncode


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("leaks")
    run = Run(store=base / "store", reports=base / "reports", key_dir=base / "keys")
    run.key_dir.mkdir()
    handler = _ListHandler()
    root = logging.getLogger()
    watched = [root, logging.getLogger("urllib3"), logging.getLogger("requests")]
    levels = [logger.level for logger in watched]
    with (
        pytest.MonkeyPatch.context() as mp,
        FakeMimecastServer(tiny_org(), credentials=CREDENTIALS, rate_limit=10_000) as server,
    ):
        for name in list(os.environ):
            if name.startswith("MIMECAST_"):
                mp.delenv(name)
        for name, value in server.environment().items():
            mp.setenv(name, value)
        mp.setenv("AWARENESS_PSEUDONYM_KEY", PSEUDONYM_KEY)  # inherited by the report kernels
        root.addHandler(handler)
        for logger in watched:
            logger.setLevel(logging.DEBUG)
        logging.captureWarnings(True)
        try:
            store = str(run.store)
            _cli(run, "campaigns", "-vv", "campaigns")
            _cli(run, "campaigns json", "-vv", "campaigns", "--format", "json")
            _cli(run, "fetch", "-vv", "fetch", "--out", store, "--no-progress", "--page-size", "7")
            server.inject("fail_retryable", times=2)
            server.inject("server_error")
            server.inject("rate_limit", reset_ms=100)
            _cli(
                run, "fetch with faults", "-vv", "fetch", "--out", store, "--full", "--no-progress"
            )
            mp.setenv("MIMECAST_APP_KEY", WRONG_APP_KEY)
            _cli(run, "fetch wrong app key", "-vv", "fetch", "--out", store, "--no-progress")
            mp.setenv("MIMECAST_APP_KEY", APP_KEY)
            mp.setenv("MIMECAST_AUTH", "2.0")
            mp.setenv("MIMECAST_CLIENT_ID", CLIENT_ID)
            mp.setenv("MIMECAST_CLIENT_SECRET", CLIENT_SECRET)
            _cli(run, "campaigns api 2.0", "-vv", "campaigns")
            _cli(run, "fetch api 2.0", "-vv", "fetch", "--out", store, "--full", "--no-progress")
            mp.setenv("MIMECAST_CLIENT_SECRET", WRONG_CLIENT_SECRET)
            _cli(run, "campaigns wrong client secret", "-vv", "campaigns")
            for name in ("MIMECAST_AUTH", "MIMECAST_CLIENT_ID", "MIMECAST_CLIENT_SECRET"):
                mp.delenv(name)
            _subprocess_fetch(run, server, run.store)
            _library_failures(run, server, run.store)
            with _ListenWatcher(run):
                _cli(
                    run,
                    "report",
                    "-vv",
                    "report",
                    "--store",
                    store,
                    "--out",
                    str(run.reports),
                    "--pseudonymise",
                    "--min-group-size",
                    str(MIN_GROUP),
                    "--no-progress",
                )
            _collect_auth(run, server)
        finally:
            logging.captureWarnings(False)
            root.removeHandler(handler)
            for logger, level in zip(watched, levels, strict=True):
                logger.setLevel(level)
            run.add("logs", "\n".join(handler.lines))
        yield run


def _store_texts(store: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        texts[str(path)] = raw.decode("utf-8", errors="replace") + raw.decode("latin-1")
        if path.suffix == ".parquet":  # compressed pages: check the decoded values too
            table = pq.read_table(path)
            texts[str(path)] += str(table.schema.metadata) + table.to_pandas().to_csv()
    return texts


def _report_texts(reports: Path) -> dict[str, str]:
    return {
        str(p): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(reports.rglob("*"))
        if p.is_file()
    }


# -- 1. credentials appear nowhere ------------------------------------------------------------


def test_the_run_did_what_it_was_meant_to(leak_run: Run) -> None:
    codes = leak_run.exit_codes
    for ok in (
        "campaigns",
        "campaigns json",
        "fetch",
        "fetch with faults",
        "campaigns api 2.0",
        "fetch api 2.0",
        "subprocess fetch -vv",
        "report",
    ):
        assert codes[ok] == 0, (ok, leak_run.texts.get(f"{ok} stderr"))
    assert codes["fetch wrong app key"] == 1 and codes["campaigns wrong client secret"] == 1
    assert "err_xdk_invalid_signature" in leak_run.texts["fetch wrong app key stderr"]
    logs = leak_run.texts["logs"]
    assert "DEBUG urllib3" in logs  # DEBUG from urllib3 really was captured
    assert "Retrying" in logs or "retry" in logs.lower()
    sub_err = leak_run.texts["subprocess fetch -vv stderr"]
    assert "DEBUG urllib3" in sub_err and "WARNING" in sub_err
    assert leak_run.signatures and leak_run.tokens  # both schemes were exercised
    assert "Tiny Phishing" in leak_run.texts["campaigns stdout"]


def _leaks(run: Run, texts: dict[str, str]) -> list[tuple[str, str]]:
    needles = run.needles()
    found = [
        (where, n) for where, text in texts.items() for n in needles if n.lower() in text.lower()
    ]
    found += [
        (where, m.group()) for where, text in texts.items() for m in BEARER_VALUE.finditer(text)
    ]
    return found


def test_no_secret_in_logs_errors_reprs_or_cli_output(leak_run: Run) -> None:
    texts = {k: v for k, v in leak_run.texts.items() if k != FAKE_CREDENTIALS_REPR}
    assert "logs" in texts and "reprs" in texts and "subprocess fetch -vv stderr" in texts
    assert not _leaks(leak_run, texts)


def test_fake_credentials_repr_hides_the_access_key(leak_run: Run) -> None:
    text = leak_run.texts[FAKE_CREDENTIALS_REPR]
    assert SECRET_B64 not in text and APP_KEY not in text and CLIENT_SECRET not in text
    assert ACCESS_KEY not in text


def test_no_secret_in_store_files(leak_run: Run) -> None:
    texts = _store_texts(leak_run.store)
    assert any(name.endswith("manifest.json") for name in texts)
    assert any(name.endswith(".parquet") for name in texts)
    assert not _leaks(leak_run, texts)


def test_no_secret_in_rendered_reports(leak_run: Run) -> None:
    texts = _report_texts(leak_run.reports)
    assert len([n for n in texts if n.endswith(".html")]) >= 2
    assert not _leaks(leak_run, texts)


# -- 2. a config file other users can read ----------------------------------------------------


def test_readable_config_file_warns_once_on_stderr_via_cli(
    server: FakeMimecastServer, no_mimecast_env: None, tmp_path: Path
) -> None:
    # load_settings itself is covered in test_config.py; this is the CLI's --config path.
    creds = server.credentials
    path = tmp_path / "mimecast.toml"
    path.write_text(
        f'[mimecast]\nbase_url = "{server.base_url}"\naccess_key = "{creds.access_key}"\n'
        f'secret_key = "{creds.secret_key}"\napp_id = "{creds.app_id}"\n'
        f'app_key = "{creds.app_key}"\n'
    )
    exe = Path(sys.executable).with_name("awareness-analysis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMECAST_")}
    for mode, warnings in ((0o644, 1), (0o600, 0)):
        path.chmod(mode)
        done = subprocess.run(
            [str(exe), "--config", str(path), "campaigns"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.count("chmod 600") == warnings, (oct(mode), done.stderr)
        assert creds.secret_key not in done.stderr + done.stdout
        assert creds.app_key not in done.stderr + done.stdout


# -- 3. pseudonymised reports and pseudonymised exports ------------------------------------------


def _people(store: Path) -> tuple[set[str], set[str]]:
    users = SnapshotStore(store).load().frames.users
    return {e.lower() for e in users["email"]}, {n for n in users["name"] if n}


def test_store_holds_the_small_departments(leak_run: Run) -> None:
    users = SnapshotStore(leak_run.store).load().frames.users
    sizes = users.groupby("department", observed=True)["email"].nunique().to_dict()
    assert {str(k): v for k, v in sizes.items()} == DEPARTMENTS


def test_pseudonymised_reports_hide_people_and_small_departments(leak_run: Run) -> None:
    emails, names = _people(leak_run.store)
    assert len(emails) == sum(DEPARTMENTS.values())
    pages = {n: t for n, t in _report_texts(leak_run.reports).items() if n.endswith(".html")}
    for page, text in pages.items():
        lowered = text.lower()
        assert not [e for e in emails if e in lowered], page
        assert not [n for n in names if n in text], page
        assert not [p for p in ("@tiny-org.example", *LAST) if p.lower() in lowered], page
        assert not [d for d in SMALL_DEPARTMENTS if d in text], page
        shown = [d for d in DEPARTMENTS if d in text]
        assert all(DEPARTMENTS[d] >= MIN_GROUP for d in shown), (page, shown)
    assert any("Main Floor Crew" in text for text in pages.values())  # not vacuous


def test_pseudonymised_export_hides_people_and_small_departments(
    leak_run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWARENESS_PSEUDONYM_KEY", raising=False)
    emails, names = _people(leak_run.store)
    analysis = load_analysis(
        leak_run.store,
        pseudonymise=True,
        key_file=tmp_path / "pseudonym.key",
        min_group_size=MIN_GROUP,
    )
    out = UserExplorer(analysis).export_csv(tmp_path / "selection.csv")
    text = out.read_text(encoding="utf-8")
    frame = pd.read_csv(out)
    assert len(frame) > 0
    lowered = text.lower()
    assert not [e for e in emails if e in lowered]
    assert not [n for n in names if n in text]
    assert not [p for p in ("@tiny-org.example", *LAST) if p.lower() in lowered]
    assert not [d for d in SMALL_DEPARTMENTS if d in text]
    assert "Main Floor Crew" in text


# -- 4. loopback only -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_fake_api_refuses_a_non_loopback_host(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeMimecastServer(tiny_org(), host=host)


def test_fake_api_binds_loopback_by_default() -> None:
    with FakeMimecastServer(tiny_org()) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        address = server._httpd.socket.getsockname()  # type: ignore[union-attr]
        assert address[0] == "127.0.0.1"
        psutil = pytest.importorskip("psutil")
        listening = [
            c.laddr
            for c in psutil.Process().net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == address[1]
        ]
        assert listening and all(laddr.ip == "127.0.0.1" for laddr in listening)


def test_report_kernels_open_no_tcp_listening_socket(leak_run: Run) -> None:
    pytest.importorskip("psutil")
    assert leak_run.kernel_pids, "no kernel process was seen; the check would be vacuous"
    # ipykernel itself binds one TCP port for its IOPub pipe (ipykernel/iostream.py,
    # tcp://127.0.0.1) whatever the transport; everything else is IPC. Loopback only, then.
    listeners = {(ip, port) for _pid, ip, port in leak_run.tcp_listeners}
    assert all(ipaddress.ip_address(ip).is_loopback for ip, _port in listeners), listeners
