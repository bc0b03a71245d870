"""How a release run ended → ledger verdicts (rejections, cancellations), and action-report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.conftest import GhaFiles, store_manifest
from tests.unit.test_config import GOOD, write
from vault_actions import config
from vault_actions.cli import gha
from vault_actions.cli.main import main
from vault_actions.context import RunContext
from vault_actions.errors import ConfigError
from vault_actions.integrations.github.gates import Review
from vault_actions.promotion.journey import journey_of
from vault_actions.report import verdicts
from vault_actions.store.ledger import Ledger

CTX = RunContext("octocat", "acme/shop", "77", None, None, "https://github.com", "https://api.github.com")


def needs(**results: str) -> str:
    return json.dumps({job: {"result": r, "outputs": {}} for job, r in results.items()})


@pytest.fixture
def setup(tmp_path: Path, s3: Any, vault_bucket: str) -> tuple[config.Config, Ledger]:
    doc = json.loads(json.dumps(GOOD))
    doc["vault"]["bucket"] = vault_bucket
    cfg = config.load(write(tmp_path, doc))
    book = Ledger(s3, vault_bucket)
    store_manifest(s3, vault_bucket, "1.0.0")
    book.record("1.0.0", "built", None, CTX, details={"people": ["dev@example.com"]})
    for env in ("dev", "qa"):
        book.record("1.0.0", "deployed", env, CTX)
        book.record("1.0.0", "smoke_passed", env, CTX)
    return cfg, book


def no_review(_: Any) -> None:
    return None


def test_stages_are_parsed_from_needs(setup: tuple[config.Config, Ledger]) -> None:
    cfg, _ = setup
    raw = needs(build="success", dev="success", qa="failure", uat="skipped", prod="skipped")
    assert verdicts.parse_stages(json.loads(raw), cfg) == {
        "dev": "success", "qa": "failure", "uat": "skipped", "prod": "skipped",
    }
    with pytest.raises(ConfigError, match="input 'stages' is not a JSON object"):
        verdicts.parse_stages(["not", "an", "object"], cfg)
    with pytest.raises(ConfigError, match="input 'stages' is not JSON") as caught:
        gha.parse_json("stages", "{nope", verdicts.NEEDS_HINT)  # the CLI's --stages
    assert caught.value.hint == verdicts.NEEDS_HINT


def test_rejected_gate_becomes_a_rejection(setup: tuple[config.Config, Ledger]) -> None:
    cfg, book = setup
    stages = {"dev": "success", "qa": "success", "uat": "failure", "prod": "skipped"}
    review = Review("rejected", "po-jane", "totals are wrong", ("uat",))
    found = verdicts.verdicts(cfg, journey_of(book, "1.0.0"), stages, lambda env: review)
    assert found == [verdicts.Verdict("rejected", "uat", {"by": "po-jane", "reason": "totals are wrong"})]


def test_cancelled_run_abandons_the_version_an_unapproved_gate_does_not(setup: tuple[config.Config, Ledger]) -> None:
    """Without required reviewers (the gate-workflow fallback) the UAT job fails until an
    approval is recorded; that must not kill the version: re-running the job promotes it."""
    cfg, book = setup
    journey = journey_of(book, "1.0.0")
    assert verdicts.verdicts(cfg, journey, {"dev": "success", "qa": "success", "uat": "failure"}, no_review) == []
    cancelled = verdicts.verdicts(cfg, journey, {"dev": "success", "qa": "success", "uat": "cancelled"}, no_review)
    assert [(v.event, v.environment) for v in cancelled] == [("cancelled", "uat")]


def test_nothing_to_add(setup: tuple[config.Config, Ledger]) -> None:
    cfg, book = setup
    journey = journey_of(book, "1.0.0")
    # a failed deploy after approval is retryable: nothing recorded
    approved = Review("approved", "qa-lead", "", ("uat",))
    assert verdicts.verdicts(cfg, journey, {"dev": "success", "qa": "success", "uat": "failure"}, lambda e: approved) == []
    assert verdicts.verdicts(cfg, journey, {"dev": "success", "qa": "failure"}, no_review) == []
    everything = {"dev": "success", "qa": "success", "uat": "success", "prod": "success"}
    assert verdicts.verdicts(cfg, journey, everything, no_review) == []
    book.record("1.0.0", "smoke_failed", "uat", CTX)
    dead = journey_of(book, "1.0.0")
    assert verdicts.verdicts(cfg, dead, {"uat": "failure"}, lambda e: approved) == []


@responses.activate
def test_report_action_records_a_rejected_gate(
    setup: tuple[config.Config, Ledger], gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, book = setup
    monkeypatch.chdir(cfg.root)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    responses.get(
        re.compile(r"https://api\.github\.com(:443)?/repos/acme/shop$"),
        json={"full_name": "acme/shop", "url": "https://api.github.com/repos/acme/shop", "name": "shop"},
    )
    responses.get(
        re.compile(r"https://api\.github\.com(:443)?/repos/acme/shop/actions/runs/4242/approvals"),
        json=[{
            "environments": [{"id": 161088068, "name": "uat", "url": "https://api.github.com/repos/acme/shop/environments/uat"}],
            "state": "rejected",
            "comment": "Checkout totals are wrong | see JIRA-12",
            "user": {"login": "po-jane", "id": 1, "type": "User"},
        }],
    )
    monkeypatch.setenv("INPUT_VERSION", "v1.0.0")
    monkeypatch.setenv("INPUT_STAGES", needs(build="success", dev="success", qa="success", uat="failure", prod="skipped"))
    monkeypatch.setenv("INPUT_CONFIG", "vault.yml")
    assert main(["action", "report"]) == 0

    journey = journey_of(book, "1.0.0")
    assert journey.death is not None
    assert (journey.death.event, journey.death.environment, journey.death.who) == ("rejected", "uat", "po-jane")
    assert journey.death.reason == "Checkout totals are wrong | see JIRA-12"
    outputs = gha_env.outputs()
    assert outputs["state"] == "dead" and json.loads(outputs["recorded"]) == ["rejected"]
    summary = gha_env.summary_text()
    assert "```mermaid" in summary and "REJECTED" in summary
    assert "Checkout totals are wrong \\| see JIRA-12" in summary


@responses.activate
def test_github_down_records_nothing(
    setup: tuple[config.Config, Ledger], gha_env: GhaFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, book = setup
    monkeypatch.chdir(cfg.root)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    monkeypatch.setattr("vault_actions.integrations.github.client.BACKOFF_SECONDS", 0.01)
    responses.get(re.compile(r"https://api\.github\.com(:443)?/.*"), status=502, json={"message": "Bad gateway"})
    stages = needs(dev="success", qa="success", uat="failure")
    assert main(["conclude", "--version", "1.0.0", "--stages", stages]) == 0
    assert journey_of(book, "1.0.0").alive
