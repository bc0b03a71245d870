"""Finding 5: text from users reaches the runner log only with workflow commands neutralised."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import break_glass
from tests.unit.deliver.test_deploy import build_release
from vault_actions.cli import gha
from vault_actions.store.ledger import Ledger

HOSTILE = "\n::add-mask::v1.0.0\n::stop-commands::x"


def acted_on(log: str) -> list[str]:
    """The workflow commands GitHub's runner would act on in ``log`` (it trims leading
    whitespace and, after ``::stop-commands::T``, ignores everything until ``::T::``)."""
    seen: list[str] = []
    token: str | None = None
    for line in log.splitlines():
        stripped = line.lstrip()
        if token is not None:
            if stripped == f"::{token}::":
                token = None
            continue
        if stripped.startswith("::stop-commands::"):
            token = stripped.removeprefix("::stop-commands::")
        if stripped.startswith(("::", "##[")):
            seen.append(stripped)
    return seen


def test_the_runner_model_sees_commands_outside_a_block() -> None:
    log = "x\n  ::add-mask::a\n::stop-commands::t1\n::add-mask::b\n::t1::\n::error::c\n"
    assert acted_on(log) == ["::add-mask::a", "::stop-commands::t1", "::error::c"]


VAULT_YML = """\
vault:
  bucket: {bucket}
  region: us-east-1
services:
  - name: alpha
environments:
  - name: dev
    functions: {{alpha: alpha-dev}}
"""


def run_logged(args: list[str], env: dict[str, str]) -> str:
    """Run ``vault`` as a step would: stdout and stderr into one log."""
    done = subprocess.run(
        [sys.executable, "-m", "vault_actions", *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, check=False, timeout=120,
    )
    return done.stdout


def test_a_hostile_gate_reason_never_reaches_the_log_as_a_command(
    s3: Any, vault_bucket: str, tmp_path: Path, gha_env: Any
) -> None:
    build_release(s3, vault_bucket, "1.0.0", ["alpha"], tmp_path)
    path = tmp_path / "vault.yml"
    gated = VAULT_YML.format(bucket=vault_bucket) + "    gate: {approvers: [octocat]}\n"  # the gate workflow decides for gated environments
    path.write_text(gated + break_glass())  # no id-token here
    env = {**os.environ, "INPUT_ENVIRONMENT": "dev", "INPUT_VERSION": "1.0.0",
           "INPUT_DECISION": "reject", "INPUT_REASON": f"totals wrong{HOSTILE}",
           "INPUT_CONFIG": str(path)}

    logs = [
        run_logged(["action", "gate"], env),
        run_logged(["status", "--config", str(path)], env),
        run_logged(["reject", "--config", str(path), "--env", "dev", "--version", "1.0.0",
                    "--reason", HOSTILE], env),  # refused (already dead): the error quotes it
        run_logged(["graveyard", "--config", str(path), "--format", "markdown"], env),
    ]

    (rejected,) = [e for e in Ledger(s3, vault_bucket).events("1.0.0") if e.event == "rejected"]
    assert rejected.details["reason"] == f"totals wrong{HOSTILE}".strip()  # kept verbatim
    for log in logs:
        assert "::add-mask::v1.0.0" in log or "totals wrong" in log  # the text is shown…
        commands = acted_on(log)
        assert not [c for c in commands if c.startswith("::add-mask::")], log  # …never obeyed
        assert "::stop-commands::x" not in commands, log
        tokens = [c.removeprefix("::stop-commands::") for c in commands
                  if c.startswith("::stop-commands::")]
        assert tokens and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens), log
        assert log.rstrip().endswith(f"::{tokens[-1]}::")  # commands resumed at the end


def test_own_commands_step_out_of_the_block(
    gha_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with gha.commands_stopped():
        print(f"user says{HOSTILE}")
        gha.mask("s3cret")
        gha.error("v1 failed", title="Deploy failed")
    commands = acted_on(capsys.readouterr().out)
    assert "::add-mask::s3cret" in commands
    assert "::error title=Deploy failed::v1 failed" in commands
    assert not [c for c in commands if c in ("::add-mask::v1.0.0", "::stop-commands::x")]


def test_log_lines_are_neutralised_too() -> None:
    assert gha.neutralise(f"reason:{HOSTILE}\n  ##[error]x") == (
        "reason:\n» ::add-mask::v1.0.0\n» ::stop-commands::x\n  » ##[error]x"
    )
    assert acted_on(gha.neutralise(HOSTILE)) == []


def test_outside_actions_nothing_is_added(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with gha.commands_stopped():
        print("plain")
    assert capsys.readouterr().out == "plain\n"
    assert json.dumps(gha.neutralise("a")) == '"a"'
