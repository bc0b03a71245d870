"""``vault init``: caller workflows pinned to the suite's ref, and a starter vault.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.act_harness import REPO_ROOT
from vault_actions import __version__, config
from vault_actions.cli.main import main

PREFIX = "arn:aws:iam::123456789012:role/vault-"


def test_init_writes_pinned_callers_that_lint_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "Shop"
    repo.mkdir()
    assert main(["init", "--dir", str(repo), "--role-arn-prefix", PREFIX]) == 0
    workflows = repo / ".github/workflows"
    assert sorted(p.name for p in workflows.iterdir()) == ["dr-sync.yml", "gate.yml", "release.yml"]
    release = yaml.load((workflows / "release.yml").read_text(), Loader=yaml.BaseLoader)
    job = release["jobs"]["release"]
    assert job["uses"] == f"vault-actions/vault-actions/.github/workflows/vault-release.yml@v{__version__}"
    assert job["with"]["aws-role-arn-prefix"] == PREFIX
    assert release["permissions"] == {}
    dr = yaml.load((workflows / "dr-sync.yml").read_text(), Loader=yaml.BaseLoader)
    assert dr["on"]["workflow_run"]["workflows"] == ["release"]
    assert "conclusion == 'success'" in dr["jobs"]["dr-sync"]["if"]
    assert config.load(repo / "vault.yml").vault.bucket == "shop-vault"

    files = sorted(str(p) for p in workflows.iterdir())
    subprocess.run(["actionlint", *files], check=True, capture_output=True)
    zizmor = subprocess.run(
        ["zizmor", "--offline", "--quiet", "--config", str(REPO_ROOT / "zizmor.yml"), *files],
        capture_output=True, text=True, check=False,
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


def test_init_keeps_existing_files_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "vault.yml").write_text("# mine\n")
    assert main(["init", "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, "--ref", "v1"]) == 0
    assert (tmp_path / "vault.yml").read_text() == "# mine\n"
    assert "kept  vault.yml" in capsys.readouterr().out
    assert main(["init", "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, "--force"]) == 0
    assert "bucket:" in (tmp_path / "vault.yml").read_text()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--ref", "v1\nrun: evil"), ("--suite", "not a repo"), ("--role-arn-prefix", "arn:aws:iam::1:role/x")],
)
def test_init_refuses_values_that_break_the_yaml(tmp_path: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["init", "--dir", str(tmp_path), "--role-arn-prefix", PREFIX, flag, value]
    assert main(argv) == 1
    assert f"{flag} " in capsys.readouterr().err
    assert not (tmp_path / ".github").exists()
