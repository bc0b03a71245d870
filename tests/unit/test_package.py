"""The package's version is set in one place, pyproject.toml's project.version."""

from __future__ import annotations

import ast
import tomllib
from importlib import metadata
from pathlib import Path

import vault_actions

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_pyprojects_and_the_package_reads_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert vault_actions.__version__ == project["version"] == metadata.version("vault-actions")
    source = (ROOT / "lib" / "vault_actions" / "__init__.py").read_text(encoding="utf-8")
    assigned = [
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    ]
    assert assigned == []  # no second copy of the version in the package


def test_the_changelog_has_a_section_for_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert f"## [{vault_actions.__version__}]" in changelog


def test_modules_over_400_lines_say_why_they_are_one_piece() -> None:
    package = ROOT / "lib" / "vault_actions"
    long = {
        str(path.relative_to(package)): ast.get_docstring(ast.parse(path.read_text("utf-8")))
        for path in package.rglob("*.py") if len(path.read_text("utf-8").splitlines()) > 400
    }
    assert long, "no module is over 400 lines: drop this test"
    unexplained = sorted(name for name, doc in long.items()
                         if "One piece (over 400 lines)" not in (doc or ""))
    assert unexplained == []
