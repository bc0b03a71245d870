"""Shared fixtures: a real moto server, AWS environment, runner files and git repos."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from vault_actions.demo.emulator import EmbeddedAws, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class MotoServer:
    """A moto server on 127.0.0.1: the demo's embedded AWS, or the one .ci/run started."""

    url: str

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the whole test session (the one .ci/run started, if any),
    started and stopped exactly as ``vault demo`` does (``demo.emulator.EmbeddedAws``)."""
    if url := os.environ.get("VAULT_TEST_MOTO_URL"):
        yield MotoServer(url)
        return
    with EmbeddedAws(tmp_path_factory.mktemp("moto") / "moto.log") as embedded:
        yield MotoServer(embedded.url)


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """Point the standard AWS environment at a freshly reset moto server."""
    moto_server.reset()
    return point_at(moto_server, monkeypatch)


def point_at(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The standard AWS environment, aimed at ``moto_server`` (no profile, test keys)."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    return moto_server


@pytest.fixture
def s3(aws_env: MotoServer) -> Any:
    from vault_actions.integrations import aws

    return aws.client("s3", "us-east-1")


def make_vault_bucket(s3: Any, name: str, region: str = "us-east-1", lock: bool = True) -> str:
    """A versioned (and object-locked) bucket, like infra/vault.yaml makes."""
    kwargs: dict[str, Any] = {"Bucket": name, "ObjectLockEnabledForBucket": lock}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def store_manifest(s3: Any, bucket: str, version: str) -> Any:
    """A release's manifest without artifacts: the vault then knows ``version``, so
    ledger events can be recorded for it (nothing is recorded for unbuilt versions)."""
    from vault_actions.store.manifest import Manifest
    from vault_actions.store.vault import Vault

    manifest = Manifest(
        version=version, tag=f"v{version}", commit="c0ffee" * 6 + "abcd",
        built_at="2026-03-01T00:00:00+00:00", built_by="octocat", run_url=None,
        bucket=bucket, region="us-east-1", artifacts=(),
    )
    Vault(s3, bucket).store_manifest(manifest)
    return manifest


@pytest.fixture
def vault_bucket(s3: Any) -> str:
    return make_vault_bucket(s3, f"vault-{uuid.uuid4().hex[:12]}")


@dataclass
class GhaFiles:
    """GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as temp files, parsed back."""

    output: Path
    summary: Path

    def outputs(self) -> dict[str, str]:
        return parse_outputs(self.output.read_text())

    def summary_text(self) -> str:
        return self.summary.read_text()


def parse_outputs(text: str) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file, heredoc values included."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


@pytest.fixture
def gha_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GhaFiles:
    """Pretend to be inside GitHub Actions, with output files under tmp_path."""
    files = GhaFiles(tmp_path / "github_output", tmp_path / "step_summary")
    files.output.touch()
    files.summary.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files.output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files.summary))
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_API_URL", "https://api.github.com")
    return files


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def git_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Give code under test a git identity without touching the user's config."""
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))


def write_service(root: Path, name: str, files: dict[str, str]) -> Path:
    """A service folder whose build command copies src/ into dist/."""
    src = root / "services" / name / "src"
    for rel, text in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return src.parent


VAULT_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
services:
{services}
environments:
  - name: dev
    functions: {{{dev}}}
"""


def break_glass() -> str:
    """vault.yml's ``ledger:`` for tests that drive the commands from a terminal, outside
    Actions: every local event counts (they are about other promises than the ledger's)."""
    from vault_actions.store.ledger import EVENTS

    return f"ledger: {{allow-local: [{', '.join(EVENTS)}]}}\n"


def write_config(root: Path, bucket: str, services: list[str]) -> Path:
    """A minimal vault.yml whose services build with a portable copy command."""
    build = f"{sys.executable} -c \\\"import shutil; shutil.copytree('src', 'dist', dirs_exist_ok=True)\\\""
    svc = "\n".join(
        f'  - name: {s}\n    path: services/{s}\n    build: "{build}"' for s in services
    )
    dev = ", ".join(f"{s}: {s}-dev" for s in services)
    path = root / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=bucket, services=svc, dev=dev) + break_glass())
    return path


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The GitHub API through ``responses`` (moto on 127.0.0.1 passes through); no
    client-side request spacing, short retry backoff."""
    import re

    import responses

    from vault_actions.integrations.github import client
    monkeypatch.setattr(client, "SECONDS_BETWEEN_REQUESTS", None)
    monkeypatch.setattr(client, "SECONDS_BETWEEN_WRITES", None)
    monkeypatch.setattr(client, "BACKOFF_SECONDS", 0.01)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(re.compile(r"http://127\.0\.0\.1:\d+"))
        yield mock


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e (act runs, the demo) is marked ``e2e``."""
    e2e = Path(__file__).resolve().parent / "e2e"
    for item in items:
        if e2e in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def issuer() -> Iterator[Any]:
    """The local OIDC issuer (tests/oidc_issuer.py) for the whole session."""
    from tests.oidc_issuer import Issuer

    server = Issuer().start()
    yield server
    server.stop()


def run_as_job(monkeypatch: pytest.MonkeyPatch, issuer: Any, **claims: Any) -> dict[str, str]:
    """Make this process a GitHub Actions job whose OIDC tokens carry ``claims``
    (release workflow, acme/shop, run 4242, actor octocat unless overridden)."""
    job = issuer.claims(**claims)
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_ACTOR": job["actor"], "GITHUB_REPOSITORY": job["repository"],
        "GITHUB_RUN_ID": job["run_id"], "GITHUB_SHA": job["sha"],
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "https://api.github.com",
        **issuer.job(**claims),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
def ses_messages(moto: MotoServer) -> list[dict[str, Any]]:
    """What moto's SES holds as sent (source, destinations, subject, body), read back
    through the server's own data view."""
    data = requests.get(f"{moto.url}/moto-api/data.json", timeout=10).json()
    return list(data.get("ses", {}).get("Message", []))


@dataclass
class SmtpInbox:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and what it received."""

    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    password: str = "s3cret-smtp-password"


@pytest.fixture
def smtp_inbox() -> Iterator[SmtpInbox]:
    """An SMTP server that wants AUTH LOGIN/PLAIN (user ``vault``) and keeps every message."""
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    inbox = SmtpInbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.content, policy=policy.default)
            inbox.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        login = (data.login.decode(), data.password.decode())
        inbox.logins.append(login)
        return AuthResult(success=login == ("vault", inbox.password), handled=False)

    controller = Controller(Handler(), hostname="127.0.0.1", port=inbox.port,
                            authenticator=authenticate, auth_required=True,
                            auth_require_tls=False)  # AUTH without TLS: loopback only
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
