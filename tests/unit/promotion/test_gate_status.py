"""``vault approve/reject``, ``vault status`` and ``vault graveyard`` against a moto server."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GhaFiles, make_vault_bucket, run_as_job, store_manifest
from tests.oidc_issuer import GATE, HonestJobs, Issuer
from tests.unit.store.test_ledger import STORY, VAULT_YML, Clock, context
from vault_actions import cli
from vault_actions.errors import ExitCode
from vault_actions.promotion.journey import journey_of
from vault_actions.store.ledger import Ledger


@dataclass
class Pipeline:
    config: Path
    ledger: Ledger
    issuer: Issuer
    monkeypatch: pytest.MonkeyPatch

    def release(self, *versions: str) -> None:
        """Put the manifests that make these versions exist in the vault."""
        for version in versions:
            store_manifest(self.ledger.s3, self.ledger.bucket, version)

    def record(self, steps: list[tuple[str, str, str | None, dict[str, Any]]]) -> None:
        """Each step as the job entitled to it writes it (an approval: the gate workflow
        run by its approver)."""
        for version, event, env, details in steps:
            actor = details.get("by", "octocat") if event == "approved" else "octocat"
            self.ledger.record(version, event, env, context(actor), details=details)

    def as_gate_job(self, actor: str) -> None:
        """From now on this process is a run of the gate workflow started by ``actor``."""
        run_as_job(self.monkeypatch, self.issuer, job_workflow_ref=GATE, actor=actor)


@pytest.fixture
def pipeline(s3: Any, tmp_path: Path, issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    bucket = make_vault_bucket(s3, f"vault-{uuid.uuid4().hex[:12]}")
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=bucket, dr_bucket=f"{bucket}-dr")
                    + f'ledger: {{repository: acme/shop, issuer: "{issuer.url}"}}\n')
    ledger = Ledger(s3, bucket, clock=Clock(), attestor=HonestJobs(issuer))
    found = Pipeline(path, ledger, issuer, monkeypatch)
    found.release("1.0.0", "1.0.1", "1.0.2")
    return found


def vault(pipeline: Pipeline, *argv: str) -> int:
    return cli.main([*argv, "--config", str(pipeline.config)])


def said(capsys: pytest.CaptureFixture[str]) -> str:
    """Everything printed (in Actions errors are ::error annotations on stdout)."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def printed(capsys: pytest.CaptureFixture[str]) -> Any:
    """The --json result, without the workflow-command lines around it in Actions."""
    lines = capsys.readouterr().out.splitlines()
    return json.loads("\n".join(line for line in lines if not line.startswith("::")))


def passed_qa(pipeline: Pipeline, version: str = "1.0.1") -> None:
    """Built (by people who approve nothing), then passed dev and qa."""
    pipeline.record([(version, "built", None, {"people": ["octocat", "dev@example.com"]})])
    pipeline.record([
        (version, event, env, {})
        for env in ("dev", "qa") for event in ("deployed", "smoke_passed")
    ])


# --- approve / reject ------------------------------------------------------------------


def test_approve_records_who_approved(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_qa(pipeline)
    pipeline.as_gate_job("qa-lead")

    code = vault(pipeline, "approve", "--env", "uat", "--version", "v1.0.1",
                 "--reason", "regression suite green", "--json")

    assert code == 0
    data = printed(capsys)
    assert (data["event"], data["environment"], data["version"]) == ("approved", "uat", "1.0.1")
    assert data["details"] == {"by": "qa-lead", "reason": "regression suite green"}
    assert data["proof"]["kind"] == "github-oidc"
    (approval,) = [e for e in pipeline.ledger.events("1.0.1") if e.event == "approved"]
    assert approval.who == "qa-lead" and approval.id == data["id"]


@pytest.mark.parametrize(
    ("actor", "argv", "message", "code"),
    [
        ("qa-lead", ["--env", "qa", "--version", "1.0.1"],
         "qa has no gate: there is nothing to approve", 3),
        ("intern", ["--env", "uat", "--version", "1.0.1"],
         "'intern' may not approve releases for uat; its approvers are qa-lead", 3),
        ("manager", ["--env", "prod", "--version", "1.0.1"],
         "v1.0.1 has never been deployed to uat; prod only takes versions that passed uat", 3),
        ("qa-lead", ["--env", "uat", "--version", "1.0.0"],
         "v1.0.0 is dead: smoke_failed in qa at", 3),
        ("qa-lead", ["--env", "uat", "--version", "1.0.9"],
         "v1.0.9 is not in the vault", 5),
        ("qa-lead", ["--env", "uat", "--version", "1.0"],
         "version '1.0' is not allowed", 2),
        ("qa-lead", ["--env", "staging", "--version", "1.0.1"],
         "no environment named 'staging'", 2),
        ("intern", ["--env", "uat", "--version", "1.0.1", "--by", "qa-lead"],
         "--by 'qa-lead' is not accepted", 2),
    ],
)
def test_approve_refusals_record_nothing(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], actor: str, argv: list[str],
    message: str, code: int,
) -> None:
    pipeline.record(STORY[:5])  # v1.0.0 died in QA
    passed_qa(pipeline)
    before = len(pipeline.ledger.events())
    pipeline.as_gate_job(actor)

    assert vault(pipeline, "approve", *argv) == code  # 3 refused, 5 vault, 2 usage

    assert message in said(capsys)
    assert len(pipeline.ledger.events()) == before


def test_reject_kills_the_version_for_good(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_qa(pipeline)
    pipeline.as_gate_job("manager")
    assert vault(pipeline, "reject", "--env", "uat", "--version", "1.0.1") == 2  # usage
    assert "vault reject needs --reason" in said(capsys)

    code = vault(pipeline, "reject", "--env", "uat", "--version", "1.0.1",
                 "--reason", "Biz Logic Error")

    assert code == 0
    assert "v1.0.1 rejected in uat by manager: v1.0.1 is dead (Biz Logic Error)" in said(capsys)
    death = journey_of(pipeline.ledger, "1.0.1").death
    assert death is not None
    assert (death.event, death.environment, death.who, death.reason) == (
        "rejected", "uat", "manager", "Biz Logic Error"
    )
    pipeline.as_gate_job("qa-lead")
    assert vault(pipeline, "approve", "--env", "uat", "--version", "1.0.1") == 3  # refused
    assert "v1.0.1 is dead: rejected in uat at" in said(capsys)
    assert vault(pipeline, "reject", "--env", "qa", "--version", "1.0.1", "--reason", "again") == 3  # refused
    assert "v1.0.1 is already dead: rejected in uat" in said(capsys)


def test_in_actions_the_decision_carries_the_actor_and_run(
    pipeline: Pipeline, gha_env: GhaFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_qa(pipeline, "1.0.2")
    pipeline.as_gate_job("octocat")

    assert vault(pipeline, "reject", "--env", "qa", "--version", "1.0.2", "--reason", "slow") == 0

    (rejection,) = [e for e in pipeline.ledger.events("1.0.2") if e.event == "rejected"]
    assert (rejection.who, rejection.actor) == ("octocat", "octocat")
    assert rejection.run_url == "https://github.com/acme/shop/actions/runs/4242"
    assert "v1.0.2 rejected in qa by octocat" in said(capsys)


# --- status ----------------------------------------------------------------------------


def test_status_tells_the_three_version_story(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.record(STORY)

    assert vault(pipeline, "status") == 0
    text = capsys.readouterr().out
    assert "v1.0.0  🪦 dead: smoke_failed in qa at 2026-03-01 10:04:00 UTC by octocat\n" in text
    assert "  qa    failed         2026-03-01 10:04:00 UTC  octocat\n" in text
    assert (
        "v1.0.1  🪦 dead: rejected in uat at 2026-03-01 10:12:00 UTC by manager "
        "(Biz Logic Error)\n" in text
    )
    assert "v1.0.2  ✅ alive, live in dev, qa, uat, prod, dr\n" in text
    assert "  dr    synced         2026-03-01 10:23:00 UTC  octocat\n" in text
    assert "live: dev v1.0.2, qa v1.0.2, uat v1.0.2, prod v1.0.2, dr v1.0.2" in text
    assert "lags" not in text

    assert vault(pipeline, "status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["state"], v["died_in"]) for v in data["versions"]] == [
        ("1.0.0", "dead", "qa"), ("1.0.1", "dead", "uat"), ("1.0.2", "live", None)
    ]
    assert data["versions"][1]["death"]["details"]["reason"] == "Biz Logic Error"
    assert data["versions"][2]["live_in"] == ["dev", "qa", "uat", "prod", "dr"]
    assert len(data["versions"][2]["events"]) == 11
    assert data["dr_lag"] == []


def test_status_of_one_version(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.record(STORY)

    assert vault(pipeline, "status", "--version", "v1.0.1") == 0
    text = capsys.readouterr().out
    assert text.startswith("v1.0.1  🪦 dead: rejected in uat")
    assert "v1.0.0" not in text and "v1.0.2  " not in text
    assert "live: dev v1.0.2" in text

    assert vault(pipeline, "status", "--version", "3.0.0") == 5  # VaultError
    assert "the ledger has no event for v3.0.0" in capsys.readouterr().err


def test_status_says_when_dr_lags_prod(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.record(STORY)
    pipeline.release("1.0.3")
    pipeline.record([("1.0.3", "deployed", "prod", {}), ("1.0.3", "smoke_passed", "prod", {})])

    assert vault(pipeline, "status") == 0
    assert "⚠️  dr lags prod: prod runs v1.0.3, dr runs v1.0.2" in capsys.readouterr().out
    assert vault(pipeline, "status", "--json") == 0
    (lag,) = json.loads(capsys.readouterr().out)["dr_lag"]
    assert (lag["mirror"], lag["source_version"], lag["mirror_version"]) == ("dr", "1.0.3", "1.0.2")


def test_status_of_an_empty_ledger(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    assert vault(pipeline, "status") == 0
    assert "is empty: no release recorded yet" in capsys.readouterr().out


# --- graveyard -------------------------------------------------------------------------


def test_graveyard_mermaid_on_stdout(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.record(STORY)

    assert vault(pipeline, "graveyard", "--format", "mermaid") == 0
    out = capsys.readouterr().out
    assert out.startswith("flowchart TD\n")
    assert 'subgraph V1 ["🗓️ Attempt 1: v1.0.0 (Died in QA)"]' in out
    assert 'subgraph V2 ["🗓️ Attempt 2: v1.0.1 (Died in UAT)"]' in out
    assert 'subgraph V3 ["🗓️ Attempt 3: v1.0.2 (Success)"]' in out
    assert "V1 --> V2 --> V3" in out


def test_graveyard_to_a_file_and_the_step_summary(
    pipeline: Pipeline, gha_env: GhaFiles, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pipeline.record(STORY)
    target = tmp_path / "graveyard.md"

    assert vault(pipeline, "graveyard", "--output", str(target)) == 0

    assert f"wrote the graveyard (markdown) to {target}" in capsys.readouterr().out
    written = target.read_text()
    assert written.startswith("## 🪦 Release graveyard\n\n```mermaid\nflowchart TD\n")
    assert "| v1.0.1 | uat | rejected | 2026-03-01 10:12:00 UTC |" in written
    assert written.rstrip() in gha_env.summary_text()


def test_graveyard_json(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.record(STORY)

    assert vault(pipeline, "graveyard", "--format", "json", "--last", "2") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(v["attempt"], v["version"], v["outcome"]) for v in data["versions"]] == [
        (2, "1.0.1", "Died in UAT"), (3, "1.0.2", "Success")
    ]
    assert data["live"]["prod"] == "1.0.2"


def test_graveyard_refuses_an_unwritable_output(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir.md"
    assert vault(pipeline, "graveyard", "--output", str(missing)) == 2  # ConfigError
    assert f"cannot write --output {missing}" in capsys.readouterr().err


# --- action-gate (the workflow_dispatch fallback) -------------------------------------


def gate_action(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, actor: str, decision: str, reason: str = "") -> int:
    pipeline.as_gate_job(actor)
    for key, value in {"ENVIRONMENT": "uat", "VERSION": "1.0.1", "DECISION": decision,
                       "REASON": reason, "CONFIG": str(pipeline.config)}.items():
        monkeypatch.setenv(f"INPUT_{key}", value)
    return cli.main(["action", "gate"])


def test_gate_action_decides_as_the_actor(
    pipeline: Pipeline, gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_qa(pipeline)
    assert gate_action(pipeline, monkeypatch, "mallory", "approve") == 3
    assert "::error" in capsys.readouterr().out
    assert not [e for e in pipeline.ledger.events("1.0.1") if e.event == "approved"]

    assert gate_action(pipeline, monkeypatch, "qa-lead", "approve") == 0
    (approval,) = [e for e in pipeline.ledger.events("1.0.1") if e.event == "approved"]
    assert approval.who == "qa-lead" and gha_env.outputs()["event"] == "approved"

    assert gate_action(pipeline, monkeypatch, "qa-lead", "maybe") == 2
    assert "input 'decision' is 'maybe'" in capsys.readouterr().out


def test_gate_action_refuses_a_rerun_by_someone_else(
    pipeline: Pipeline, gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    passed_qa(pipeline)
    monkeypatch.setenv("GITHUB_TRIGGERING_ACTOR", "mallory")
    assert gate_action(pipeline, monkeypatch, "qa-lead", "approve") == 2
    assert "re-run by mallory of qa-lead's decision" in capsys.readouterr().out
    assert not [e for e in pipeline.ledger.events("1.0.1") if e.event == "approved"]


def test_the_gate_fallback_refuses_an_approver_who_made_the_release(
    pipeline: Pipeline, gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Finding 9, the gate workflow fallback: qa-lead may approve uat, but committed to
    v1.0.1 (the built event says so): the gate workflow refuses to record the approval."""
    pipeline.record([("1.0.1", "built", None, {"people": ["qa-lead", "qa-lead@example.com"]})])
    pipeline.record([("1.0.1", event, env, {})
                     for env in ("dev", "qa") for event in ("deployed", "smoke_passed")])

    assert gate_action(pipeline, monkeypatch, "qa-lead", "approve") == ExitCode.REFUSED
    assert ("qa-lead may not approve v1.0.1 for uat: authored or committed commits of the "
            "release") in capsys.readouterr().out
    assert not [e for e in pipeline.ledger.events("1.0.1") if e.event == "approved"]

    text = pipeline.config.read_text().replace(
        "gate: {approvers: [qa-lead]}", "gate: {approvers: [qa-lead], allow-author-approval: true}"
    )
    pipeline.config.write_text(text)
    assert gate_action(pipeline, monkeypatch, "qa-lead", "approve") == 0
    assert [e.who for e in pipeline.ledger.events("1.0.1") if e.event == "approved"] == ["qa-lead"]
