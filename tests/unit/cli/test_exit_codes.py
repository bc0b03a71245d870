"""Finding 10: every kind of failure exits with its own code, through the real ``vault``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, write_service
from tests.unit.deliver.test_deploy import build_release
from vault_actions import cli, errors
from vault_actions.errors import ExitCode


def vault(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vault_actions", *args], cwd=cwd, capture_output=True, text=True,
        env=env if env is not None else dict(os.environ), check=False, timeout=120,
    )


PIPELINE_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
  protected: false
services:
  - name: alpha
    path: services/alpha
    build: "{build}"
environments:
  - name: dev
    functions: {{alpha: alpha-dev}}
  - name: qa
    functions: {{alpha: alpha-qa}}
"""


def write_yml(path: Path, bucket: str, build: str = "true") -> Path:
    path.write_text(PIPELINE_YML.format(bucket=bucket, build=build))
    return path


def test_usage_and_invalid_config_exit_2(tmp_path: Path) -> None:
    assert vault("deploy", "--no-such-flag").returncode == ExitCode.USAGE
    bad = tmp_path / "vault.yml"
    bad.write_text("vault: {bucket: x}\nservices: []\n")
    done = vault("validate", "--config", str(bad))
    assert done.returncode == ExitCode.USAGE == 2, done.stderr
    assert "error:" in done.stderr


def test_refused_promotion_exits_3(s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    build_release(s3, vault_bucket, "1.0.0", ["alpha"], tmp_path)
    path = write_yml(tmp_path / "vault.yml", vault_bucket)
    done = vault("deploy", "--config", str(path), "--env", "qa", "--version", "1.0.0")
    assert done.returncode == ExitCode.REFUSED == 3, done.stderr
    assert "has never been deployed to dev" in done.stderr


def test_failed_doctor_check_exits_4(aws_env: Any, tmp_path: Path) -> None:
    path = write_yml(tmp_path / "vault.yml", "no-such-vault-bucket")
    done = vault("doctor", "--config", str(path))
    assert done.returncode == ExitCode.CHECK_FAILED == 4, done.stderr
    assert "❌ no-such-vault-bucket: exists" in done.stdout


def test_missing_credentials_exit_5(aws_env: Any, tmp_path: Path) -> None:
    path = write_yml(tmp_path / "vault.yml", "some-vault")
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    done = vault("status", "--config", str(path), env=env)
    assert done.returncode == ExitCode.INFRASTRUCTURE == 5, done.stderr
    assert "no AWS credentials were found" in done.stderr


def test_failed_build_command_exits_1(
    tmp_path: Path, git_env: None, vault_bucket: str
) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_service(root, "alpha", {"index.py": "x = 1\n"})
    write_yml(root / "vault.yml", vault_bucket, build=f"{sys.executable} -c 'raise SystemExit(7)'")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feat: alpha")
    done = vault("build", cwd=root)
    assert done.returncode == ExitCode.OTHER == 1, done.stderr
    assert "error:" in done.stderr and "alpha" in done.stderr


def test_every_error_class_has_a_documented_code() -> None:
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.VaultActionsError)]
    for cls in classes:
        assert f"  {int(cls.exit_code)} " in errors.EXIT_CODES, cls
    expected = {
        errors.ConfigError: 2, errors.VersionError: 2, errors.PromotionRefused: 3,
        errors.ImmutableVersionError: 3, errors.TamperError: 3, errors.ArtifactError: 3,
        errors.SmokeFailed: 4, errors.DeployError: 5, errors.VaultError: 5,
        errors.GitHubError: 5, errors.GitError: 5, errors.CredentialsError: 5,
        errors.BuildError: 1, errors.AttestationError: 3,
    }
    assert {c: int(c.exit_code) for c in expected} == expected


@pytest.mark.parametrize("argv", [["--help"], ["deploy", "--help"], ["smoke", "--help"]])
def test_help_documents_the_exit_codes(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    out = capsys.readouterr().out
    assert errors.EXIT_CODES in out


def test_readme_documents_the_exit_codes() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert errors.EXIT_CODES in readme
