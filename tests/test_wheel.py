"""The built wheel works on its own: installed outside the clone, it builds a demo store,
renders the reports from the notebooks it ships, and copies them for editing.

The wheel is built from a copy of the clone (building in place would write ``build/`` and
``*.egg-info`` into it, and a stale ``build/lib`` can carry deleted modules into the wheel) and
installed with ``--no-deps`` into a fresh virtual environment in a temporary folder. That
environment sees the project's dependencies through a ``.pth`` file naming this environment's
site-packages: a plain path line, so the editable install's own ``.pth`` finder hook there is
not run and the clone is not importable (checked before the wheel is installed).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from awareness_analysis.views.report import in_reports

REPO = Path(__file__).resolve().parents[1]
PACKAGED_NOTEBOOKS = sorted(
    p.name for p in (REPO / "awareness_analysis" / "notebooks").glob("*.ipynb")
)


#: The notebooks that become pages of their own (the summary opens the index instead; a
#: notebook marked out of reports is not rendered).
PAGE_NOTEBOOKS = [
    n
    for n in PACKAGED_NOTEBOOKS
    if not n.startswith("00_summary")
    and in_reports(nbformat.read(REPO / "awareness_analysis" / "notebooks" / n, 4))
]
PARENT_SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])

# Building, creating the environment and installing take seconds; rendering the reports in
# kernels of the new environment takes most of the time.
pytestmark = pytest.mark.timeout(900)

#: Not copied into the build folder: environments, caches, build output, generated data.
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    "demo-store",
    "reports",
    "test-artifacts",
)


def run(
    command: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail with its output when it fails or hangs."""
    shown = " ".join(str(c) for c in command)
    try:
        result = subprocess.run(
            [str(c) for c in command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{shown}` (in {cwd}) did not finish within {timeout} s:\n{_tail(exc)}")
    if result.returncode != 0:
        pytest.fail(
            f"`{shown}` (in {cwd}) exited with {result.returncode}:\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result


def _tail(exc: subprocess.TimeoutExpired) -> str:
    def text(value: bytes | str | None) -> str:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        return value or ""

    return f"--- stdout ---\n{text(exc.stdout)[-4000:]}\n--- stderr ---\n{text(exc.stderr)[-4000:]}"


def outside_env() -> dict[str, str]:
    """This process's environment without anything that could reach the clone."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "AWARENESS_STORE"}
    }
    # nbconvert's HTML templates are data files (share/jupyter/nbconvert/templates) that pip
    # installs into the prefix of the environment holding nbconvert; here that is this
    # environment, not the new one, so point Jupyter's search path at it.
    share = Path(sys.prefix) / "share" / "jupyter"
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(share), env.get("JUPYTER_PATH")]))
    env["PYTHONNOUSERSITE"] = "1"
    return env


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    python: Path
    script: Path
    work: Path  # a working folder outside the clone
    env: dict[str, str]
    import_before_install: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(REPO), f"temporary folder {base} is inside the clone"
    env = outside_env()

    source = base / "source"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE, symlinks=True)
    dist = base / "dist"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-w",
            dist,
            source,
        ],
        cwd=base,
        env=env,
        timeout=300,
    )
    wheels = sorted(dist.glob("awareness_analysis-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"

    venv = base / "venv"
    # No pip of its own: the new environment runs this one's pip through the .pth below.
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base, env=env, timeout=120)
    python = venv / "bin" / "python"
    site = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=base,
        env=env,
        timeout=60,
    ).stdout.strip()
    (Path(site) / "parent_environment.pth").write_text(f"{PARENT_SITE_PACKAGES}\n")

    work = base / "work"
    work.mkdir()
    before = subprocess.run(
        [str(python), "-c", "import awareness_analysis; print(awareness_analysis.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # --ignore-installed: pip sees this environment's (editable) install through the .pth and
    # must neither skip the wheel nor try to uninstall anything outside the new environment.
    run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--disable-pip-version-check",
            wheels[0],
        ],
        cwd=work,
        env=env,
        timeout=300,
    )
    script = venv / "bin" / "awareness-analysis"
    assert script.is_file(), f"the wheel installed no console script at {script}"
    return Installed(wheels[0], venv, python, script, work, env, before)


def test_wheel_ships_the_notebooks_py_typed_and_dependencies(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line
            for line in wheel.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
    assert PACKAGED_NOTEBOOKS, "the clone has no notebooks in awareness_analysis/notebooks"
    shipped = sorted(
        n.rsplit("/", 1)[1] for n in names if n.startswith("awareness_analysis/notebooks/")
    )
    assert shipped == PACKAGED_NOTEBOOKS
    assert "awareness_analysis/py.typed" in names
    assert any("statsmodels>=0.14" in line for line in requires), requires


def test_the_clone_is_not_importable_before_the_wheel_is_installed(installed: Installed) -> None:
    before = installed.import_before_install
    assert before.returncode != 0, (
        "the new environment imported awareness_analysis before the wheel was installed, from "
        f"{before.stdout.strip()}: the editable install of the clone leaks through the .pth"
    )
    assert "No module named 'awareness_analysis'" in before.stderr, before.stderr


def test_the_installed_package_is_the_wheel_and_ipykernel_is_importable(
    installed: Installed,
) -> None:
    code = (
        "import awareness_analysis, ipykernel, ipykernel_launcher, sys\n"
        "print(awareness_analysis.__file__)\n"
        "print(sys.prefix)\n"
    )
    out = run([installed.python, "-c", code], cwd=installed.work, env=installed.env, timeout=120)
    package_file, prefix = (Path(line) for line in out.stdout.strip().splitlines())
    assert package_file.resolve().is_relative_to(installed.venv.resolve()), package_file
    assert not package_file.resolve().is_relative_to(REPO), package_file
    assert prefix.resolve() == installed.venv.resolve()


def test_demo_then_report_from_the_installed_wheel(installed: Installed) -> None:
    store, out = installed.work / "store", installed.work / "out"
    demo = run(
        [installed.script, "demo", "--out", store, "--no-progress"],
        cwd=installed.work,
        env=installed.env,
        timeout=300,
    )
    assert "Snapshot" in demo.stdout, demo.stdout
    # Relative paths: the working folder, outside the clone, is all the command has.
    report = run(
        [installed.script, "report", "--store", "store", "--out", "out", "--no-progress"],
        cwd=installed.work,
        env=installed.env,
        timeout=900,
    )
    assert "index.html" in report.stdout, report.stdout
    pages = sorted(p.name for p in out.glob("*.html"))
    expected = sorted(["index.html", *(f"{Path(n).stem}.html" for n in PAGE_NOTEBOOKS)])
    assert pages == expected, f"{out} holds {pages}"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="aa-summary"' in index  # the summary notebook opens the index
    for name in PAGE_NOTEBOOKS:
        assert f'href="{Path(name).stem}.html"' in index


def test_notebooks_command_then_report_of_an_edited_copy(installed: Installed) -> None:
    copies = installed.work / "my-notebooks"
    printed = run(
        [installed.script, "notebooks", "--out", copies],
        cwd=installed.work,
        env=installed.env,
        timeout=120,
    ).stdout
    assert sorted(p.name for p in copies.iterdir()) == PACKAGED_NOTEBOOKS, printed

    # Render one edited copy that reports which interpreter and package its kernel used.
    kept = copies / PAGE_NOTEBOOKS[0]
    for path in copies.glob("*.ipynb"):
        if path != kept:
            path.unlink()
    notebook = nbformat.read(kept, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import sys\nimport awareness_analysis\n"
            "print('KERNEL-PREFIX', sys.prefix)\n"
            "print('KERNEL-PACKAGE', awareness_analysis.__file__)\n"
        )
    )
    nbformat.write(notebook, kept)
    store = installed.work / "edited-store"
    run(
        [installed.script, "demo", "--out", store, "--no-progress"],
        cwd=installed.work,
        env=installed.env,
        timeout=300,
    )
    out = installed.work / "edited-out"
    run(
        [
            installed.script,
            "report",
            "--store",
            store,
            "--out",
            out,
            "--notebooks",
            copies,
            "--no-progress",
        ],
        cwd=installed.work,
        env=installed.env,
        timeout=600,
    )
    assert sorted(p.name for p in out.glob("*.html")) == sorted(["index.html", f"{kept.stem}.html"])
    page = html.unescape((out / f"{kept.stem}.html").read_text(encoding="utf-8"))
    prefix = re.search(r"KERNEL-PREFIX (\S+)", page)
    package = re.search(r"KERNEL-PACKAGE (\S+)", page)
    assert prefix and package, "the edited cell's output is missing from the page"
    assert Path(prefix.group(1)).resolve() == installed.venv.resolve(), prefix.group(1)
    assert Path(package.group(1)).resolve().is_relative_to(installed.venv.resolve())
