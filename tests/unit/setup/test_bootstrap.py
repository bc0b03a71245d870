"""Finding 4 (and issue 9's one bootstrap): every action installs the suite through one
script, from a lock file whose hashes are checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ACTIONS = sorted(ROOT.glob("action-*/action.yml"))
LOCK = ROOT / "requirements.lock"
BOOTSTRAP = ROOT / "action-bootstrap.sh"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def steps(path: Path) -> list[dict[str, object]]:
    return list(yaml.safe_load(path.read_text())["runs"]["steps"])


def test_every_action_shares_one_bootstrap() -> None:
    assert len(ACTIONS) == 7
    for action in ACTIONS:
        install = next(s for s in steps(action) if s.get("id") == "install")
        assert install["run"] == 'bash "$GITHUB_ACTION_PATH/../action-bootstrap.sh"', action
        text = action.read_text()
        assert "uv pip" not in text and "uv venv" not in text, action
        uses = [str(s["uses"]) for s in steps(action) if "uses" in s]
        assert uses and all(PINNED.match(u) for u in uses), (action, uses)


def requirement_names(lock: str) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.M)}


def test_the_lock_pins_exactly_the_runtime_dependencies_with_hashes() -> None:
    lock = LOCK.read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    names = requirement_names(lock)
    assert runtime <= names
    assert not {"moto", "pytest", "ruff", "mypy", "responses"} & names  # no test tools
    entries = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock.split("\n", 2)[2])
    assert all("--hash=sha256:" in e for e in entries) and len(entries) == len(names)
    assert "scripts/lock.sh" in lock.splitlines()[1]  # how to re-compile it


def bootstrap(suite: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    output = tmp / "output"
    output.touch()
    env = {**os.environ, "RUNNER_TEMP": str(tmp / "runner"), "GITHUB_OUTPUT": str(output),
           "PYTHON": sys.executable, "UV_LINK_MODE": "copy"}
    (tmp / "runner").mkdir(exist_ok=True)
    return subprocess.run(["bash", str(suite / "action-bootstrap.sh")], env=env, text=True,
                          capture_output=True, timeout=300, check=False)


def test_the_bootstrap_installs_the_locked_suite(tmp_path: Path) -> None:
    done = bootstrap(ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    python = (tmp_path / "output").read_text().strip().removeprefix("python=")
    probe = subprocess.run(
        [python, "-c", "import boto3, vault_actions; print(vault_actions.__file__, boto3.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert probe[0] == str(ROOT / "lib/vault_actions/__init__.py")
    assert f"boto3=={probe[1]}" in LOCK.read_text()
    again = bootstrap(ROOT, tmp_path)  # a later action of the job reuses the venv
    assert again.returncode == 0 and again.stderr == ""


def test_a_tampered_lock_installs_nothing(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(BOOTSTRAP, suite)
    lock = LOCK.read_text()
    entry = re.search(r"^pyyaml==.*?(?=^\S)", lock, re.M | re.S | re.I)
    assert entry is not None  # every file of PyYAML now has other bytes than the lock's
    forged = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, entry.group(0))
    (suite / "requirements.lock").write_text(lock.replace(entry.group(0), forged))
    done = bootstrap(suite, tmp_path)
    assert done.returncode != 0
    assert "hash" in done.stderr.lower()
    assert not any((tmp_path / "runner").iterdir())  # no half venv for the next action


@pytest.mark.parametrize("script", ["action-bootstrap.sh", "scripts/lock.sh"])
def test_scripts_pass_shellcheck(script: str) -> None:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    done = subprocess.run([shellcheck, str(ROOT / script)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout
