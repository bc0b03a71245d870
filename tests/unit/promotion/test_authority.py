"""Authority: which proven writer may state what (a local OIDC issuer, a moto server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.oidc_issuer import BUILD, DR_SYNC, GATE, RECORD, STAGE, Issuer
from vault_actions import config
from vault_actions.context import RunContext
from vault_actions.promotion import authority
from vault_actions.store.attestation import LocalAttestor, OidcAttestor, Verifier
from vault_actions.store.ledger import GITHUB_GATE, Ledger

VAULT_YML = """\
vault: {{bucket: {bucket}, region: us-east-1}}
services: [{{name: api}}]
environments:
  - {{name: dev, functions: {{api: api-dev}}}}
  - {{name: qa, functions: {{api: api-qa}}}}
  - {{name: prod, functions: {{api: api-prod}}, gate: {{approvers: [manager]}}}}
  - {{name: dr, mirror-of: prod, region: us-west-2, bucket: {bucket}-dr, functions: {{api: api-dr}}}}
ledger: {{repository: acme/shop}}
"""


def ctx(actor: str = "octocat") -> RunContext:
    return RunContext(actor=actor, repository="acme/shop", run_id="4242",
                      run_url="https://github.com/acme/shop/actions/runs/4242",
                      sha="c0ffee" * 6 + "abcd", server_url="https://github.com",
                      api_url="https://api.github.com")


@pytest.fixture
def cfg(tmp_path: Path, vault_bucket: str) -> config.Config:
    path = tmp_path / "vault.yml"
    path.write_text(VAULT_YML.format(bucket=vault_bucket))
    return config.load(path)


class Writers:
    """Ledgers that write as one job each (or locally), and the verdict on what they wrote."""

    def __init__(self, s3: Any, bucket: str, issuer: Issuer, cfg: config.Config) -> None:
        self.s3, self.bucket, self.issuer, self.cfg = s3, bucket, issuer, cfg
        self.verifier = Verifier(issuer.url, "acme/shop")

    def job(self, **claims: Any) -> Ledger:
        return Ledger(self.s3, self.bucket, attestor=OidcAttestor(self.issuer.job(**claims)))

    def local(self) -> Ledger:
        return Ledger(self.s3, self.bucket, attestor=LocalAttestor(self._sts()))

    def _sts(self) -> Any:
        from vault_actions.integrations import aws

        return aws.client("sts")

    def judged(self, cfg: config.Config | None = None) -> authority.Assessment:
        ledger = Ledger(self.s3, self.bucket)
        return authority.assess(cfg or self.cfg, ledger.scan(), self.verifier)


@pytest.fixture
def writers(s3: Any, vault_bucket: str, issuer: Issuer, cfg: config.Config) -> Writers:
    return Writers(s3, vault_bucket, issuer, cfg)


def only(assessment: authority.Assessment) -> authority.Judged:
    (judged,) = assessment.judged
    return judged


def test_an_environments_own_job_may_say_it_deployed_and_passed_there(writers: Writers) -> None:
    qa = writers.job(environment="qa")
    qa.record("1.0.0", "deployed", "qa", ctx())
    qa.record("1.0.0", "smoke_passed", "qa", ctx())
    assessment = writers.judged()
    assert [j.problem for j in assessment.judged] == [None, None]
    assert assessment.journey("1.0.0").passed("qa")


def test_a_token_of_the_wrong_environment_has_no_authority(writers: Writers) -> None:
    writers.job(environment="dev").record("1.0.0", "deployed", "qa", ctx())
    judged = only(writers.judged())
    assert judged.writer is not None  # the proof holds: it is the dev job's
    assert judged.problem == "it was written by a job of environment dev, not qa"
    assert not judged.counts and judged.flag == "unverified"
    assert writers.judged().journey("1.0.0").standing("qa") is None


def test_an_environment_event_needs_the_suites_stage_workflow(writers: Writers) -> None:
    writers.job(environment="qa", job_workflow_ref="acme/shop/.github/workflows/mine.yml@refs/heads/x") \
        .record("1.0.0", "smoke_passed", "qa", ctx())
    assert "not a trusted stage workflow" in (only(writers.judged()).problem or "")


def test_the_trusted_workflows_are_configurable(writers: Writers, tmp_path: Path) -> None:
    own = "acme/ci/.github/workflows/release.yml@refs/heads/main"
    writers.job(environment="qa", job_workflow_ref=own).record("1.0.0", "smoke_passed", "qa", ctx())
    raw = yaml.safe_load((writers.cfg.path).read_text())
    raw["ledger"]["workflows"] = {"stage": ["acme/ci/.github/workflows/release.yml@refs/heads/*"]}
    custom = config.parse(raw, tmp_path / "vault.yml")
    assert only(writers.judged(custom)).counts
    assert not only(writers.judged()).counts


def test_a_mirror_takes_events_only_from_the_dr_sync_workflow(writers: Writers) -> None:
    writers.job(environment="dr", job_workflow_ref=DR_SYNC).record("1.0.0", "dr_synced", "dr", ctx())
    writers.job(environment="dr", job_workflow_ref=STAGE).record("1.0.0", "deployed", "dr", ctx())
    assert [j.counts for j in writers.judged().judged] == [True, False]


def test_an_approval_counts_from_the_gated_job_reading_githubs_review(writers: Writers) -> None:
    details = {"by": "manager", "source": GITHUB_GATE, "run_id": "4242"}
    writers.job(environment="prod").record("1.0.0", "approved", "prod", ctx(), details=details)
    writers.job(environment="dev").record("1.0.0", "approved", "prod", ctx(), details=details)
    assert [j.problem for j in writers.judged().judged] == [
        None, "it was written by a job of environment dev, not prod",
    ]


def test_an_approval_counts_from_the_gate_workflow_only_as_its_actor(writers: Writers) -> None:
    gate = writers.job(job_workflow_ref=GATE, actor="manager")
    gate.record("1.0.0", "approved", "prod", ctx("manager"), details={"by": "manager"})
    liar = writers.job(job_workflow_ref=GATE, actor="dev-dana")
    liar.record("1.0.0", "approved", "prod", ctx("dev-dana"), details={"by": "manager"})
    build = writers.job(job_workflow_ref=BUILD, actor="manager")
    build.record("1.0.0", "approved", "prod", ctx("manager"), details={"by": "manager"})
    problems = [j.problem for j in writers.judged().judged]
    assert problems[0] is None
    assert problems[1] == "it names approver 'manager' but the gate workflow was run by 'dev-dana'"
    assert problems[2] is not None and "not a trusted gate workflow" in problems[2]


def test_any_proven_job_may_kill_a_version(writers: Writers) -> None:
    writers.job(job_workflow_ref=RECORD).record("1.0.0", "rejected", "prod", ctx(),
                                                details={"by": "manager", "reason": "no"})
    writers.job(environment="dev").record("1.0.1", "smoke_failed", "qa", ctx())
    assessment = writers.judged()
    assert all(j.counts for j in assessment.judged)
    assert not assessment.journey("1.0.0").alive and not assessment.journey("1.0.1").alive


def test_an_unproven_kill_does_not_lock_a_version_out(writers: Writers, s3: Any) -> None:
    """A plain put_object of smoke_failed (any role can) does not kill the version."""
    honest = writers.job(environment="qa").record("1.0.0", "deployed", "qa", ctx())
    forged = {**honest.to_json(), "event": "smoke_failed", "proof": None,
              "id": honest.id[:-1] + ("0" if honest.id[-1] != "0" else "1")}
    import json

    body = json.dumps(forged).encode()
    key = Ledger(s3, writers.bucket).key("1.0.0", forged["writer"], forged["id"], body)
    s3.put_object(Bucket=writers.bucket, Key=key, Body=body)
    assessment = writers.judged()
    assert assessment.journey("1.0.0").alive
    assert [j.problem for j in assessment.refused] == ["it carries no proof of who wrote it"]


def test_a_built_event_needs_the_build_workflow(writers: Writers) -> None:
    sha = "c0ffee" * 6 + "abcd"
    writers.job(job_workflow_ref=BUILD).record("1.0.0", "built", None, ctx(), commit=sha)
    writers.job(job_workflow_ref=GATE).record("1.0.1", "built", None, ctx(), commit=sha)
    writers.job(job_workflow_ref=STAGE).record("1.0.2", "built", None, ctx(), commit=sha)
    assert [j.counts for j in writers.judged().judged] == [True, False, False]


def test_how_a_run_ended_is_the_record_workflows_word(writers: Writers) -> None:
    """``cancelled`` only from vault-record.yml; ``rejected`` from it, the gate workflow or a
    stage job (GitHub's review); not from the build workflow."""
    reason = {"by": "manager", "reason": "no"}
    writers.job(job_workflow_ref=RECORD).record("1.0.0", "cancelled", "qa", ctx(), details={"reason": "x"})
    writers.job(job_workflow_ref=BUILD).record("1.0.1", "cancelled", "qa", ctx(), details={"reason": "x"})
    writers.job(job_workflow_ref=GATE, actor="manager").record("1.0.2", "rejected", "prod", ctx("manager"), details=reason)
    writers.job(environment="prod").record("1.0.3", "rejected", "prod", ctx(), details=reason)
    writers.job(job_workflow_ref=BUILD).record("1.0.4", "rejected", "prod", ctx(), details=reason)
    problems = [j.problem for j in writers.judged().judged]
    assert problems[0] is None and problems[2] is None and problems[3] is None
    for problem in (problems[1], problems[4]):
        assert problem is not None and "vault-build.yml" in problem and "not a trusted record" in problem


def test_local_events_count_only_where_vault_yml_allows_them(
    writers: Writers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = writers.local()
    local.record("1.0.0", "deployed", "dev", ctx())
    local.record("1.0.0", "approved", "prod", ctx(), details={"by": "manager"})
    judged = writers.judged().judged
    assert [j.counts for j in judged] == [False, False]
    assert "ledger.allow-local does not list deployed" in (judged[0].problem or "")
    raw = yaml.safe_load(writers.cfg.path.read_text())
    raw["ledger"]["allow-local"] = ["deployed"]
    allowed = writers.judged(config.parse(raw, tmp_path / "vault.yml")).judged
    assert [(j.counts, j.flag) for j in allowed] == [(True, "local"), (False, "unverified")]


def test_the_assessment_lists_what_does_not_count(writers: Writers) -> None:
    writers.job(environment="dev").record("1.0.0", "deployed", "prod", ctx())
    data = writers.judged().to_json()
    (entry,) = data["unverified"]
    assert entry["event"] == "deployed" and entry["environment"] == "prod" and not entry["counts"]
    assert entry["writer"]["environment"] == "dev"
    assert data["skipped"] == []


def test_an_emergency_rollback_counts_only_from_the_rollback_workflow(writers: Writers) -> None:
    rollback = STAGE.replace("vault-stage.yml", "vault-rollback.yml")
    emergency = {"emergency": True, "rollback_from": "1.1.0", "reason": "5xx"}
    writers.job(environment="prod", job_workflow_ref=rollback).record(
        "1.0.0", "deployed", "prod", ctx(), details=emergency)
    writers.job(environment="prod", job_workflow_ref=STAGE).record(
        "1.0.1", "deployed", "prod", ctx(), details=emergency)
    writers.job(environment="qa").record("1.0.0", "withdrawn", "prod", ctx(),
                                         details={"reason": "a kill from anywhere counts"})
    writers.job(environment="prod").record("1.0.2", "traffic_shifted", "prod", ctx(),
                                           details={"weight": 10})
    writers.job(environment="qa").record("1.0.2", "traffic_shifted", "prod", ctx(),
                                         details={"weight": 10})

    verdicts = {(j.event.version, j.event.event, j.writer.claim("environment") if j.writer
                 else None): j.problem for j in writers.judged().judged}

    assert verdicts[("1.0.0", "deployed", "prod")] is None
    assert "not a trusted rollback workflow" in (verdicts[("1.0.1", "deployed", "prod")] or "")
    assert verdicts[("1.0.0", "withdrawn", "qa")] is None
    assert verdicts[("1.0.2", "traffic_shifted", "prod")] is None
    assert "environment qa, not prod" in (verdicts[("1.0.2", "traffic_shifted", "qa")] or "")
