"""The command line contract: commands, output formats, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import awareness_analysis
from awareness_analysis.cli import _build_parser, main
from awareness_analysis.data.store import SnapshotStore
from awareness_analysis.fakeapi.server import FakeMimecastServer
from tests.conftest import BIG_CAMPAIGN_USERS, SMALL_CAMPAIGN


def test_campaigns_json(api_env: FakeMimecastServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaigns", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["camp-big", SMALL_CAMPAIGN]
    assert rows[1]["num_sent"] == 3


def test_campaigns_csv_and_table(
    api_env: FakeMimecastServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["campaigns", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "id,name,module,launch_date,num_sent,num_completed"
    assert len(lines) == 3
    assert main(["campaigns"]) == 0
    table = capsys.readouterr().out
    assert "Small Campaign" in table and "Module Big Campaign" in table


def test_fetch_then_export(
    api_env: FakeMimecastServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["fetch", "--out", str(store), "--no-progress"]) == 0
    assert f"{BIG_CAMPAIGN_USERS + 3} user rows" in capsys.readouterr().out
    out = tmp_path / "users.csv"
    assert main(["export", "--store", str(store), "--table", "users", "--out", str(out)]) == 0
    users = pd.read_csv(out)
    assert len(users) == BIG_CAMPAIGN_USERS + 3
    assert {"campaign_id", "email", "department", "outcome"} <= set(users.columns)
    assert not list(tmp_path.glob(".users.csv.*"))  # no temporary file left behind


def test_fetch_with_campaign_status_and_search(api_env: FakeMimecastServer, tmp_path: Path) -> None:
    store = tmp_path / "store"
    args = [
        "fetch",
        "--out",
        str(store),
        "--campaign",
        SMALL_CAMPAIGN,
        "--status",
        "sent",
        "--status",
        "incorrect",
        "--search",
        "email=alex.doe",
        "--no-progress",
    ]
    assert main(args) == 0
    out = tmp_path / "u.csv"
    assert main(["export", "--store", str(store), "--table", "users", "--out", str(out)]) == 0
    assert sorted(pd.read_csv(out)["email"]) == ["alex.doe@alias.example", "alex.doe@corp.example"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "title=x"], "'title' is not supported"),
        (["--search", "department"], "FIELD=VALUE"),
        (["--search", "customAttribute=x"], "requires attributeIds"),
        (
            [
                "--attribute-id",
                "a",
                "--attribute-id",
                "b",
                "--attribute-id",
                "c",
                "--attribute-id",
                "d",
            ],
            "at most 3",
        ),
        (["--campaign", " "], "empty id"),
        (["--page-size", "0"], "--page-size must be between"),
        (["--workers", "0"], "--workers must be at least 1 (got 0)"),
        (["--workers", "-2", "--full"], "--workers must be at least 1 (got -2)"),
    ],
)
def test_fetch_invalid_input_fails_before_any_request(
    api_env: FakeMimecastServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code = main(["fetch", "--out", str(tmp_path / "s"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not [r for r in api_env.requests if r.path.startswith("/api/")]
    assert not (tmp_path / "s" / "snapshots").exists()


def test_workers_must_be_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fetch", "--out", "x", "--workers", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_fetch_refreshes_incrementally_unless_full(
    api_env: FakeMimecastServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["fetch", "--out", str(store), "--no-progress", "--workers", "1"]) == 0
    assert "reused" not in capsys.readouterr().out
    api_env.clear_requests()
    assert main(["fetch", "--out", str(store), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "0 campaigns downloaded, 2 unchanged reused from" in out
    assert [r.path for r in api_env.requests if r.path.startswith("/api/")] == [
        "/api/awareness-training/campaign/get-campaigns"
    ]
    assert main(["fetch", "--out", str(store), "--no-progress", "--full", "--workers", "8"]) == 0
    assert "reused" not in capsys.readouterr().out
    latest = SnapshotStore(store).load()
    assert latest.manifest["refresh"]["full"] is True
    assert len(latest.frames.users) == BIG_CAMPAIGN_USERS + 3


def test_unknown_status_is_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["fetch", "--out", "x", "--status", "done"])
    assert info.value.code == 2
    assert "invalid choice: 'done'" in capsys.readouterr().err


def test_missing_credentials_name_the_variables(
    no_mimecast_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["campaigns"]) == 2
    err = capsys.readouterr().err
    assert "MIMECAST_ACCESS_KEY" in err and "MIMECAST_CLIENT_ID" in err


def test_api_failure_is_one_line_exit_1(
    api_env: FakeMimecastServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIMECAST_APP_KEY", "wrong-app-key")
    assert main(["campaigns"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "err_xdk_invalid_signature" in err and "wrong-app-key" not in err


def test_export_from_missing_store_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "export",
            "--store",
            str(tmp_path / "nothing"),
            "--table",
            "users",
            "--out",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 1
    assert "awareness-analysis demo" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_demo_builds_a_store_with_the_real_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "demo"
    assert main(["demo", "--out", str(store), "--no-progress"]) == 0
    assert "campaigns" in capsys.readouterr().out
    out = tmp_path / "campaigns.csv"
    assert main(["export", "--store", str(store), "--table", "campaigns", "--out", str(out)]) == 0
    campaigns = pd.read_csv(out)
    assert len(campaigns) >= 6
    assert campaigns["num_sent"].sum() >= 2000


@pytest.mark.parametrize("command", ["campaigns", "fetch", "demo", "export", "report", "notebooks"])
def test_help_of_each_command(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "awareness_analysis.cli", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: awareness-analysis" in result.stdout
    if command in ("campaigns", "fetch"):
        assert "MIMECAST_SECRET_KEY" in result.stdout
        assert "MIMECAST_CLIENT_SECRET" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "awareness-analysis"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("awareness-analysis ")


# -- report options and the packaged notebooks -------------------------------------------------

PACKAGED_NOTEBOOKS = Path(awareness_analysis.__file__).resolve().parent / "notebooks"


def packaged_names() -> list[str]:
    names = sorted(p.name for p in PACKAGED_NOTEBOOKS.glob("*.ipynb"))
    assert len(names) >= 4, names
    return names


def test_report_pseudonymise_option_and_its_old_spelling() -> None:
    parser = _build_parser()
    base = ["report", "--store", "s", "--out", "o"]
    assert parser.parse_args(base).pseudonymise is False
    assert parser.parse_args([*base, "--pseudonymise"]).pseudonymise is True
    assert parser.parse_args([*base, "--anonymize"]).pseudonymise is True
    assert not hasattr(parser.parse_args(base), "anonymize")


def test_report_help_names_the_old_spelling() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "awareness_analysis.cli", "report", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--pseudonymise" in result.stdout
    assert "--anonymize" in result.stdout and "old spelling" in result.stdout


def test_default_notebook_dir_is_inside_the_package_whatever_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awareness_analysis.views.report import default_notebook_dir

    (tmp_path / "notebooks").mkdir()  # a decoy the old lookup could have picked
    monkeypatch.chdir(tmp_path)
    assert default_notebook_dir().resolve() == PACKAGED_NOTEBOOKS
    assert sorted(p.name for p in default_notebook_dir().glob("*.ipynb")) == packaged_names()


def test_notebooks_copies_the_packaged_notebooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new" / "nested"  # created, parents too
    assert main(["notebooks", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == packaged_names()  # nothing else left
    for name in packaged_names():
        assert (out / name).read_bytes() == (PACKAGED_NOTEBOOKS / name).read_bytes()
        assert f"Wrote {out / name}" in printed
    assert f"--notebooks {out}" in printed


def test_notebooks_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = packaged_names()[0]
    (tmp_path / first).write_text("my edits")
    (tmp_path / "notes.txt").write_text("unrelated")
    assert main(["notebooks", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("awareness-analysis notebooks: error: ")
    assert str(tmp_path / first) in err and "--force" in err
    assert captured.out == ""
    # Nothing was written: the edited copy is kept and no other notebook was added.
    assert (tmp_path / first).read_text() == "my edits"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first, "notes.txt"])

    assert main(["notebooks", "--out", str(tmp_path), "--force"]) == 0
    assert (tmp_path / first).read_bytes() == (PACKAGED_NOTEBOOKS / first).read_bytes()
    assert (tmp_path / "notes.txt").read_text() == "unrelated"
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == packaged_names()
    assert not list(tmp_path.glob(".*"))  # no partial copies left behind


def test_notebooks_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["notebooks", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file" in err
    assert target.read_text() == "x"


def test_report_renders_edited_notebook_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "my-notebooks"
    assert main(["notebooks", "--out", str(edited)]) == 0
    kept = edited / "01_campaign_overview.ipynb"
    for path in edited.glob("*.ipynb"):
        if path != kept:
            path.unlink()  # one notebook keeps the test quick
    notebook = nbformat.read(kept, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("Edited by the security team."))
    nbformat.write(notebook, kept)
    out = tmp_path / "reports"
    args = ["report", "--store", os.environ["AWARENESS_STORE"], "--out", str(out)]
    assert main([*args, "--notebooks", str(edited), "--no-progress", "--anonymize"]) == 0
    assert sorted(p.name for p in out.glob("*.html")) == ["01_campaign_overview.html", "index.html"]
    page = (out / "01_campaign_overview.html").read_text(encoding="utf-8")
    assert "Edited by the security team." in page
    assert "--pseudonymise" in page and "pseudonymisation</dt><dd>on" in page
