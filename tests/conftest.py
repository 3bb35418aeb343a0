"""Shared fixtures: a small hand-made organisation served on the local fake API."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from awareness_analysis.api.config import HmacCredentials, OAuthCredentials, Settings
from awareness_analysis.api.transport import MimecastClient, RetryPolicy
from awareness_analysis.fakeapi.dataset import FakeDataset
from awareness_analysis.fakeapi.server import FakeCredentials, FakeMimecastServer

BIG_CAMPAIGN = "camp-big"
SMALL_CAMPAIGN = "camp-small"
BIG_CAMPAIGN_USERS = 1234


def _campaign(campaign_id: str, name: str, n_questions: int, items: list[dict]) -> dict:
    answered = [i for i in items if any(v != "SENT" for v in i["results"].values())]
    return {
        "id": campaign_id,
        "name": name,
        "title": {
            "id": f"module-{campaign_id}",
            "title": f"Module_{name.replace(' ', '_')}",
            "titleForCustomModule": False,
            "correctAnswers": {f"forQuestion{q}": 1 for q in range(1, n_questions + 1)},
        },
        "group": {"id": "g", "description": "Everyone", "userCount": len(items)},
        "launchDate": "2026-03-02T09:00:00+0000",
        "createDate": "2026-03-01T09:00:00+0000",
        "numSent": len(items),
        "numCompleted": len(answered),
        "allOtherCampaigns": {},
        "locked": False,
        "percentComplete": round(100 * len(answered) / len(items)),
        "percentCorrect": 0,
        "numCorrectAnswers": {
            f"forQuestion{q}": sum(i["results"][f"forQuestion{q}"] == "CORRECT" for i in items)
            for q in range(1, n_questions + 1)
        },
    }


def small_dataset() -> FakeDataset:
    """Two campaigns: one with 1,234 users over three departments, one with three users."""
    results_cycle = ["SENT", "CORRECT", "INCORRECT"]
    departments = ["Finance", "Sales", ""]
    big = [
        {
            "name": f"User {n}",
            "email": f"user{n}@corp.example",
            "department": departments[n % 3],
            "results": {
                "forQuestion1": results_cycle[n % 3],
                "forQuestion2": results_cycle[(n // 3) % 3],
            },
            "acknowledgement": n % 2 == 0,
            "userState": "ACTIVE",
        }
        for n in range(BIG_CAMPAIGN_USERS)
    ]
    small = [
        {
            "name": "Alex Doe",
            "email": "alex.doe@corp.example",
            "department": "",
            "results": {"forQuestion1": "SENT"},
            "acknowledgement": False,
            "userState": "ACTIVE",
        },
        {
            "name": "Alex Doe",
            "email": "alex.doe@alias.example",
            "department": "Finance",
            "results": {"forQuestion1": "INCORRECT"},
            "acknowledgement": False,
            "userState": "ACTIVE",
        },
        {
            "name": "",
            "email": "alexd1993@personal-mail.example",
            "department": "",
            "results": {"forQuestion1": "CORRECT"},
            "acknowledgement": True,
            "userState": "SUSPENDED",
        },
    ]
    return FakeDataset(
        campaigns=[
            _campaign(BIG_CAMPAIGN, "Big Campaign", 2, big),
            _campaign(SMALL_CAMPAIGN, "Small Campaign", 1, small),
        ],
        users={BIG_CAMPAIGN: big, SMALL_CAMPAIGN: small},
        attributes={
            "alex.doe@alias.example": {"attr-city": "Leeds"},
            "alex.doe@corp.example": {"attr-city": "York"},
        },
    )


class SleepRecorder:
    """Stands in for time.sleep so retry waits are recorded instead of slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake_credentials() -> FakeCredentials:
    return FakeCredentials.demo()


@pytest.fixture
def server(fake_credentials: FakeCredentials) -> Iterator[FakeMimecastServer]:
    with FakeMimecastServer(small_dataset(), credentials=fake_credentials) as running:
        yield running


def hmac_settings(server: FakeMimecastServer, creds: FakeCredentials, **overrides: str) -> Settings:
    values = {
        "access_key": creds.access_key,
        "secret_key": creds.secret_key,
        "app_id": creds.app_id,
        "app_key": creds.app_key,
        **overrides,
    }
    return Settings(base_url=server.base_url, credentials=HmacCredentials(**values))


def oauth_settings(server: FakeMimecastServer, creds: FakeCredentials) -> Settings:
    return Settings(
        base_url=server.base_url,
        credentials=OAuthCredentials(creds.client_id, creds.client_secret),
    )


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, sleeps: SleepRecorder
) -> Iterator[MimecastClient]:
    with MimecastClient(
        hmac_settings(server, fake_credentials), sleep=sleeps, retry=RetryPolicy()
    ) as running:
        yield running


@pytest.fixture
def oauth_client(
    server: FakeMimecastServer, fake_credentials: FakeCredentials, sleeps: SleepRecorder
) -> Iterator[MimecastClient]:
    with MimecastClient(oauth_settings(server, fake_credentials), sleep=sleeps) as running:
        yield running


@pytest.fixture
def no_mimecast_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment with no MIMECAST_* variable, whatever the developer's shell holds."""
    for name in list(os.environ):
        if name.startswith("MIMECAST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def api_env(
    no_mimecast_env: None, server: FakeMimecastServer, monkeypatch: pytest.MonkeyPatch
) -> FakeMimecastServer:
    """MIMECAST_* variables pointing the client at the fake server with API 1.0 keys."""
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    return server


@pytest.fixture
def org_server(org: FakeDataset, fake_credentials: FakeCredentials) -> Iterator[FakeMimecastServer]:
    """The fake API serving the module's ``org`` fixture (each module sizes its own)."""
    with FakeMimecastServer(org, credentials=fake_credentials) as running:
        yield running


@pytest.fixture
def org_client(
    org_server: FakeMimecastServer, fake_credentials: FakeCredentials
) -> Iterator[MimecastClient]:
    with MimecastClient(hmac_settings(org_server, fake_credentials)) as running:
        yield running
