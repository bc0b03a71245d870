"""Finding 4: the suite's own release pins what its workflows run, and so do the callers
``vault init`` writes. Tested on a local clone whose origin is a bare repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from vault_actions.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
RELEASE = ROOT / "scripts/release.py"
PREFIX = "arn:aws:iam::123456789012:role/vault-"
SUITE_FILES = ["pyproject.toml", "zizmor.yml", "workflows-templates", ".github/workflows",
               *(p.name for p in ROOT.glob("action-*"))]


@pytest.fixture
def clone(tmp_path: Path, git_env: None) -> Path:
    """The suite's workflows and actions in a repository pushed to a bare origin, cloned."""
    source = tmp_path / "suite"
    source.mkdir()
    for name in SUITE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name)
        else:
            shutil.copy(src, source / name)
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-qm", "the suite")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(tmp_path / "clone"))
    return tmp_path / "clone"


def release(clone: Path, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RELEASE), version, "--repo", str(clone), "--push"],
                          capture_output=True, text=True, check=False, timeout=60,
                          env={**os.environ, "HOME": str(clone.parent)})


def unpinned(paths: list[Path]) -> str:
    """zizmor with its default policy (no config): the unpinned-uses findings."""
    files = [f for p in paths for f in (sorted(p.glob("*.yml")) if p.is_dir() else [p])]
    assert files
    done = subprocess.run(["zizmor", "--offline", "--no-config", *map(str, files)],
                          capture_output=True, text=True, check=False)
    return "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                     if "unpinned-uses" in line)


def checkout(repo: Path, rev: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=repo, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def test_a_release_pins_every_action_its_workflows_call(clone: Path, tmp_path: Path) -> None:
    origin = clone.parent / "origin.git"
    source = git(clone, "rev-parse", "HEAD")
    version = re.search(r'^version = "(.+)"', (clone / "pyproject.toml").read_text(), re.M)
    assert version is not None
    v = version.group(1)
    assert unpinned([clone / "workflows-templates"])  # before: the moving @v1 tag

    done = release(clone, v)

    assert done.returncode == 0, done.stderr
    released = git(origin, "rev-parse", f"v{v}^{{commit}}")
    assert git(origin, "rev-parse", f"v{v.split('.')[0]}^{{commit}}") == released  # v1 moved
    assert git(origin, "rev-parse", f"{released}^") == source
    changed = git(clone, "diff", "--name-only", source, released).splitlines()
    assert changed and all(p.startswith(("workflows-templates/", ".github/workflows/"))
                           for p in changed)
    tree = checkout(clone, released, tmp_path / "released")
    text = "".join(p.read_text() for p in sorted((tree / "workflows-templates").glob("*.yml")))
    calls = re.findall(r"vault-actions/(action-[\w-]+)@(\S+) # (\S+)", text)
    assert calls and {(sha, comment) for _, sha, comment in calls} == {(source, f"v{v}")}
    assert "@v1" not in text
    assert unpinned([tree / "workflows-templates", tree / ".github/workflows"]) == ""
    assert git(clone, "status", "--porcelain") == "" and git(clone, "rev-parse", "HEAD") == source

    # The next release moves v1 and leaves v1.0.0 where it was; a release never moves.
    assert release(clone, v).returncode != 0
    major, minor, patch = v.split(".")
    bumped = f"{major}.{minor}.{int(patch) + 1}"
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{v}"', f'version = "{bumped}"'))
    git(clone, "commit", "-qam", f"chore: {bumped}")
    assert release(clone, bumped).returncode == 0
    assert git(origin, "rev-parse", f"v{major}^{{commit}}") == git(origin, "rev-parse",
                                                                 f"v{bumped}^{{commit}}")
    assert git(origin, "rev-parse", f"v{v}^{{commit}}") == released


def test_vault_init_pins_the_release_commit(clone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    origin = clone.parent / "origin.git"
    v = re.search(r'^version = "(.+)"', (clone / "pyproject.toml").read_text(), re.M).group(1)  # type: ignore[union-attr]
    assert release(clone, v).returncode == 0
    released = git(origin, "rev-parse", f"v{v}^{{commit}}")
    repo = tmp_path / "shop"
    repo.mkdir()

    assert main(["init", "--dir", str(repo), "--role-arn-prefix", PREFIX, "--ref", f"v{v}",
                 "--suite-url", str(origin)]) == 0

    workflows = sorted((repo / ".github/workflows").glob("*.yml"))
    for path in workflows:
        assert f".yml@{released} # v{v}\n" in path.read_text(), path
    assert unpinned(workflows) == ""
    assert main(["init", "--dir", str(tmp_path / "other"), "--role-arn-prefix", PREFIX,
                 "--ref", "v9.9.9", "--suite-url", str(origin)]) == 2
    assert "has no tag 'v9.9.9'" in capsys.readouterr().err
