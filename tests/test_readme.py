"""The README's Python example runs as written against the local fake API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from awareness_analysis.fakeapi.server import FakeMimecastServer

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f" {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


def test_python_api_example_runs(
    api_env: FakeMimecastServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (block,) = python_blocks("Python API")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["campaigns"]) == 2  # type: ignore[arg-type]
    assert all(i["results"] for i in namespace["items"])  # type: ignore[attr-defined]
    assert (tmp_path / "my-store" / "snapshots").is_dir()
    assert len(namespace["frames"].users) == 1237  # type: ignore[attr-defined]


def test_analysis_layer_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # AWARENESS_STORE points at the session's demo store (see the root conftest.py).
    (block,) = python_blocks("Using the analysis layer from Python")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    rates = namespace["rates"]
    comparison = namespace["comparison"]
    assert (comparison["people"] <= comparison["n"]).all()  # type: ignore[index]
    assert comparison.attrs["org_people"] < comparison.attrs["org_n"]  # type: ignore[attr-defined]
    assert set(rates["metric"]) == {"acknowledgement", "completion", "all_correct"}  # type: ignore[index]
    assert (tmp_path / "funnel.png").stat().st_size > 10_000
