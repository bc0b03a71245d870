"""The demo practises what it preaches: its vault passes vault doctor; its graveyard fits a terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import MotoServer
from vault_actions import cli
from vault_actions.cli.commands.demo import _Played
from vault_actions.demo import story
from vault_actions.demo.story import Console, Fates
from vault_actions.integrations import aws


def test_the_demos_vault_passes_vault_doctor(
    aws_env: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 14, finding 6: the demo's own vault failed 12 of 26 doctor checks."""
    lambdas = {r: aws.client("lambda", r) for r in (story.REGION, story.DR_REGION)}
    clients = story.Clients(s3=aws.client("s3", story.REGION), s3_dr=aws.client("s3", story.DR_REGION),
                            iam=aws.client("iam", story.REGION), lambdas=lambdas)
    console = Console(io.StringIO(), assume_yes=True, animate=False)
    story.provision(clients, console)
    urls = dict.fromkeys((*story.PROMOTION, story.DR), "http://127.0.0.1:9")
    config = story.create_repository(tmp_path / "repo", urls)
    monkeypatch.setenv(aws.EMBEDDED_ENV, aws_env.url)  # as the demo's EmbeddedAws.env() does

    assert cli.main(["doctor", "--json", "--config", str(config)]) == 0

    data = json.loads(capsys.readouterr().out)
    statuses = {i["name"]: i["status"] for i in data["items"]}
    assert data["failed"] == 0 and data["not_checkable"] == 4
    for bucket in (story.VAULT_BUCKET, story.DR_BUCKET):
        for item in ("region", "versioning", "object-lock", "public-access-block", "encryption",
                     "deny-delete"):
            assert statuses[f"{bucket}: {item}"] == "pass"
        for item in ("conditional-write", "tls-only"):
            assert statuses[f"{bucket}: {item}"] == "not checkable"
    functions = [name for name in statuses if ": function " in name]
    assert len(functions) == 10 and all(statuses[f] == "pass" for f in functions)


def played(tmp_path: Path) -> _Played:
    graveyard = tmp_path / story.GRAVEYARD_FILE
    return _Played(Fates(), "## 🪦 Release graveyard\n\n```mermaid\nflowchart TD\n```\n", graveyard,
                   "🪦 Release graveyard\n\n  Attempt 1 · v1.0.0 · Died in QA\n", {}, tmp_path / "vault.yml")


def test_on_a_terminal_the_graveyard_is_drawn_and_the_markdown_file_named(tmp_path: Path) -> None:
    text = played(tmp_path).closing(terminal=True)
    assert text.startswith("🪦 Release graveyard\n\n  Attempt 1 · v1.0.0 · Died in QA")
    assert "```mermaid" not in text
    assert text.endswith(f"📄 The graveyard as Markdown (its Mermaid chart renders on GitHub): "
                         f"{tmp_path / story.GRAVEYARD_FILE}")


def test_piped_the_demo_prints_the_markdown(tmp_path: Path) -> None:
    text = played(tmp_path).closing(terminal=False)
    assert text.startswith("## 🪦 Release graveyard\n\n```mermaid")
    assert text.endswith(str(tmp_path / story.GRAVEYARD_FILE))
