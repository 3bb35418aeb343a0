"""The package's layers import in one direction only, statically and at run time.

Statically: every module of ``awareness_analysis`` is parsed with :mod:`ast` (imports inside
functions and ``TYPE_CHECKING`` blocks included) and each import of the package is checked
against :data:`ALLOWED`. At run time: loading an analysis, its views and ``app`` never imports
the fetch side (HTTP client, fetch, fake API, demo builder, ``requests``), and
``import awareness_analysis`` alone stays light (its public API loads on first use).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import awareness_analysis

PACKAGE = "awareness_analysis"
PACKAGE_DIR = Path(awareness_analysis.__file__).resolve().parent
ROOT = "root"  # the package itself: ``from awareness_analysis import __version__``

#: The layers of the package: a subpackage or top-level module, or the root package.
LAYERS = (
    "vocabulary",
    "errors",
    "data",
    "api",
    "analysis",
    "views",
    "fakeapi",
    "demo",
    "app",
    "cli",
    ROOT,
)

#: Layer -> the layers its modules may import (always besides itself). ``None``: anything.
ALLOWED: dict[str, frozenset[str] | None] = {
    "vocabulary": frozenset(),
    "errors": frozenset(),
    "data": frozenset({"vocabulary", "errors", ROOT}),
    "api": frozenset({"data", "vocabulary", "errors", ROOT}),
    "analysis": frozenset({"data", "vocabulary", "errors", ROOT}),
    "views": frozenset({"analysis", "data", "vocabulary", "errors", ROOT}),
    "fakeapi": frozenset({"vocabulary"}),
    "demo": frozenset({"api", "data", "fakeapi", "vocabulary"}),
    "app": frozenset(set(LAYERS) - {"cli"}),
    "cli": None,
    # The root package's lazy public API (``__getattr__``) may name every layer; its cost is
    # checked at run time below (importing it loads no pandas).
    ROOT: None,
}

#: Modules that loading an analysis (a store given, or its views) must never import.
FETCH_SIDE = (
    "awareness_analysis.api.transport",
    "awareness_analysis.api.fetch",
    "awareness_analysis.fakeapi.server",
    "awareness_analysis.demo",
    "requests",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. awareness_analysis.analysis.session
    path: Path
    line: int
    target: str  # the imported package module or name, e.g. awareness_analysis.api.fetch

    def where(self) -> str:
        try:
            shown = self.path.relative_to(PACKAGE_DIR.parent)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``awareness_analysis.analysis.session`` -> ``analysis``; the package itself -> root."""
    parts = module.split(".")
    assert parts[0] == PACKAGE, module
    return parts[1] if len(parts) > 1 else ROOT


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join(base + ([name] if name else []))


def _is_module(dotted: str) -> bool:
    path = PACKAGE_DIR.parent.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _target(base: str, name: str) -> str:
    """What ``from base import name`` really imports (``base`` inside the package)."""
    if _is_module(f"{base}.{name}"):
        return f"{base}.{name}"  # a submodule
    if base == PACKAGE:
        public: dict[str, str] = getattr(awareness_analysis, "_PUBLIC", {})
        if name in public:
            return f"{public[name]}.{name}"  # a lazy public name: really its defining module
    return base  # a name defined in base (``__version__`` for the root package)


def imports_of(source: str, module: str, path: Path) -> list[Import]:
    """Every import of the package in ``source``, at any depth (functions, classes, ifs)."""
    is_package = path.name == "__init__.py"
    found: set[Import] = set()
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(f"{PACKAGE}."):
                    found.add(Import(module, path, node.lineno, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            else:
                base = node.module or ""
            if base == PACKAGE or base.startswith(f"{PACKAGE}."):
                for alias in node.names:
                    found.add(Import(module, path, node.lineno, _target(base, alias.name)))
    return sorted(found, key=lambda i: (i.line, i.target))


def violations(found: list[Import]) -> list[str]:
    problems = []
    for imp in found:
        layer, target_layer = layer_of(imp.module), layer_of(imp.target)
        allowed = ALLOWED[layer]
        if allowed is None or target_layer in allowed or target_layer == layer:
            continue
        may = ", ".join(sorted(allowed)) or "nothing from the package"
        problems.append(
            f"{imp.where()}: {imp.module} imports {imp.target} ({target_layer} layer); "
            f"the {layer} layer may import only: {may}"
        )
    return problems


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in package_modules():
        found += imports_of(path.read_text(encoding="utf-8"), module_name(path), path)
    return found


# -- static checks -------------------------------------------------------------------------------


def test_every_module_belongs_to_a_layer_with_rules() -> None:
    modules = [module_name(p) for p in package_modules()]
    assert len(modules) > 20, modules  # the walk found the package
    unknown = sorted({m for m in modules if layer_of(m) not in ALLOWED})
    assert not unknown, (
        f"modules outside any known layer: {unknown}; add their layer to LAYERS and ALLOWED in "
        "tests/test_layers.py"
    )


def test_imports_point_down_the_layers() -> None:
    found = all_imports()
    assert any(layer_of(i.module) == "views" for i in found)  # the walk saw real imports
    problems = violations(found)
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_the_checker_sees_nested_relative_and_lazy_imports() -> None:
    """The rules are only as good as the parser: check it on a module that breaks them."""
    source = textwrap.dedent(
        """
        from __future__ import annotations
        from typing import TYPE_CHECKING
        import pandas
        from awareness_analysis.data.frames import Frames
        from . import filters
        from awareness_analysis import __version__

        if TYPE_CHECKING:
            from awareness_analysis.views.plots import Figure

        def refresh():
            import awareness_analysis.api.fetch
            from ..fakeapi import server
            from awareness_analysis import load_analysis

        class Thing:
            def method(self):
                from awareness_analysis.cli import main
        """
    )
    path = PACKAGE_DIR / "analysis" / "pretend.py"
    found = imports_of(source, "awareness_analysis.analysis.pretend", path)
    problems = violations(found)
    expected = {
        10: "awareness_analysis.views.plots",
        13: "awareness_analysis.api.fetch",
        14: "awareness_analysis.fakeapi.server",
        15: "awareness_analysis.app.load_analysis",
        19: "awareness_analysis.cli",
    }
    assert len(problems) == len(expected), problems
    for (line, target), problem in zip(sorted(expected.items()), problems, strict=True):
        assert problem.startswith(f"awareness_analysis/analysis/pretend.py:{line}: "), problem
        assert f"awareness_analysis.analysis.pretend imports {target}" in problem, problem
    allowed = {i.target for i in found} - set(expected.values())
    assert allowed == {
        "awareness_analysis.data.frames",
        "awareness_analysis.analysis.filters",
        "awareness_analysis",
    }


# -- run-time checks -----------------------------------------------------------------------------


def _run_python(code: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "AWARENESS_STORE"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


_PRINT_FETCH_SIDE = f"""
import json, sys
fetch_side = {list(FETCH_SIDE)!r}
print(json.dumps({{"loaded": [m for m in fetch_side if m in sys.modules]}}))
"""


def test_analysis_views_and_app_do_not_import_the_fetch_side(tmp_path: Path) -> None:
    code = (
        "import awareness_analysis.analysis.session\n"
        "import awareness_analysis.views.tables\n"
        "import awareness_analysis.views.plots\n"
        "import awareness_analysis.views.widgets\n"
        "import awareness_analysis.app\n" + _PRINT_FETCH_SIDE
    )
    loaded = _run_python(code, tmp_path)["loaded"]
    assert loaded == [], f"importing the analysis side loaded {loaded}"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from awareness_analysis.demo import build_demo_store

    path = tmp_path_factory.mktemp("layers") / "demo-store"
    build_demo_store(path, progress=False)
    return path


def test_load_analysis_of_a_given_store_does_not_import_the_fetch_side(
    demo_store: Path, tmp_path: Path
) -> None:
    code = (
        "import awareness_analysis\n"
        f"analysis = awareness_analysis.load_analysis({str(demo_store)!r})\n"
        "assert len(analysis.frames.users) > 0\n" + _PRINT_FETCH_SIDE
    )
    loaded = _run_python(code, tmp_path)["loaded"]
    assert loaded == [], f"load_analysis(store) loaded {loaded}"


def test_importing_the_package_alone_is_light(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import awareness_analysis\n"
        "heavy = ['pandas', 'numpy', 'pyarrow', 'matplotlib', *"
        f"{list(FETCH_SIDE)!r}]\n"
        'print(json.dumps({"loaded": [m for m in heavy if m in sys.modules]}))\n'
    )
    loaded = _run_python(code, tmp_path)["loaded"]
    assert loaded == [], f"import awareness_analysis alone loaded {loaded}"


def test_public_api_names_all_resolve() -> None:
    missing = []
    for name in awareness_analysis.__all__:
        try:
            getattr(awareness_analysis, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not missing, "awareness_analysis.__all__ names that do not resolve:\n" + "\n".join(
        missing
    )
    assert sorted(dir(awareness_analysis)) == sorted(awareness_analysis.__all__)


def test_package_is_marked_typed() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
