"""The pipeline follows vault.yml (issue 14, finding 1): `vault init` generates the caller
workflows from it, `vault init --update` refreshes them, `vault validate` refuses workflows
that no longer follow it, and the gate fallback offers only the gated environments."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT
from vault_actions import config
from vault_actions.cli.main import main
from vault_actions.setup import pipeline

PREFIX = "arn:aws:iam::123456789012:role/vault-"
SHA = "5" * 40
INIT = ["init", "--sha", SHA, "--ref", "v1", "--role-arn-prefix", PREFIX]

# The team's vault.yml: dev → staging → prod (no uat; qa renamed), staging in its own
# account, a canary in prod, a DR mirror.
STAGING = """\
vault: {bucket: shop-vault, region: us-east-1}
services:
  - {name: orders, path: services/orders, build: make build}
environments:
  - {name: dev, functions: {orders: orders-dev}}
  - name: staging
    account: "222222222222"
    gate: {approvers: [qa-lead]}
    functions: {orders: orders-staging}
  - name: prod
    gate: {approvers: [manager]}
    rollout: {strategy: canary, percent: 10, bake-minutes: 20, alarms: [prod-5xx]}
    functions: {orders: orders-prod}
  - {name: dr, mirror-of: prod, region: us-west-2, bucket: shop-vault-dr, functions: {orders: orders-dr}}
"""


def load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # keeps 'on' a string key


def repository(tmp_path: Path, vault_yml: str | None = None) -> Path:
    repo = tmp_path / "shop"
    (repo / "services/orders").mkdir(parents=True)
    (repo / "services/orders/Makefile").write_text("build:\n\tmkdir -p dist && cp *.py dist/\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    if vault_yml is not None:
        (repo / "vault.yml").write_text(vault_yml)
    return repo


def test_finding_1_validate_refuses_workflows_that_do_not_follow_vault_yml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`vault init` wrote the pipeline for dev → qa → uat → prod; the team renames qa to
    staging and drops uat: `vault validate` says which file is wrong and what to run, instead
    of "is valid" and a pipeline that breaks in CI."""
    repo = repository(tmp_path)
    assert main([*INIT, "--dir", str(repo), "--bucket", "shop-vault"]) == 0
    (repo / "vault.yml").write_text(STAGING)
    capsys.readouterr()

    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2  # a config error
    err = capsys.readouterr().err
    release, gate = repo / ".github/workflows/release.yml", repo / ".github/workflows/gate.yml"
    assert f"the workflows do not follow {repo / 'vault.yml'}" in err
    assert f"{release}: no job for environment(s) staging of vault.yml" in err
    assert f"{release}: job(s) for qa, uat, which vault.yml does not have" in err
    assert f"{gate}: offers uat, prod but vault.yml's gated environments are staging, prod" in err
    assert "→ run `vault init --update`" in err

    assert main(["init", "--update", "--dir", str(repo)]) == 0  # the pins are recorded
    out = capsys.readouterr().out
    assert "updated .github/workflows/release.yml" in out and "dev → staging → prod" in out
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 0
    assert "the workflows follow it: dr-sync.yml, gate.yml, release.yml, rollback.yml" in capsys.readouterr().out
    assert (repo / "vault.yml").read_text() == STAGING  # never rewritten


def test_finding_1_the_generated_pipeline_follows_a_renamed_and_dropped_environment(tmp_path: Path) -> None:
    repo = repository(tmp_path, STAGING)
    assert main([*INIT, "--dir", str(repo)]) == 0
    workflows = repo / ".github/workflows"
    release = load(workflows / "release.yml")
    jobs = release["jobs"]
    assert list(jobs) == ["build", "dev", "staging", "prod", "record"]
    suite = "vault-actions/vault-actions/.github/workflows"
    assert jobs["build"]["uses"] == f"{suite}/vault-build.yml@{SHA}"
    assert f"vault-stage.yml@{SHA} # v1\n" in (workflows / "release.yml").read_text()
    assert [jobs[e]["with"]["environment"] for e in ("dev", "staging", "prod")] == ["dev", "staging", "prod"]
    assert [jobs[e]["needs"] for e in ("dev", "staging", "prod")] == ["build", ["build", "dev"], ["build", "staging"]]
    assert jobs["dev"]["if"] == "needs.build.outputs.version != ''"
    assert jobs["record"]["needs"] == ["build", "dev", "staging", "prod"]
    assert jobs["record"]["if"].startswith("always() &&")
    assert jobs["record"]["with"]["stages"] == "${{ toJSON(needs) }}"
    # each environment's role (staging's account names its own), and no more permission than it needs
    assert {e: jobs[e]["with"]["role-arn"] for e in ("dev", "staging", "prod")} == {
        "dev": f"{PREFIX}dev", "staging": "arn:aws:iam::222222222222:role/vault-staging", "prod": f"{PREFIX}prod"}
    assert jobs["build"]["with"]["role-arn"] == jobs["record"]["with"]["role-arn"] == f"{PREFIX}build"
    assert jobs["dev"]["permissions"] == {"contents": "read", "id-token": "write", "deployments": "write"}
    assert jobs["staging"]["permissions"] == {"contents": "read", "id-token": "write", "deployments": "write",
                                              "actions": "read"}
    assert jobs["prod"]["permissions"]["contents"] == "write"  # marks the GitHub Release a full release
    assert (jobs["dev"]["with"]["timeout-minutes"], jobs["prod"]["with"]["timeout-minutes"]) == ("30", "50")
    assert release["permissions"] == {}
    text = (workflows / "release.yml").read_text()
    assert text.startswith("# Generated by `vault init` from vault.yml. Do not edit it:\n")
    assert "`vault init --update`" in text.split("name: release")[0]

    gate = load(workflows / "gate.yml")["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert gate["options"] == ["staging", "prod"]
    rollback = load(workflows / "rollback.yml")
    assert rollback["on"]["workflow_dispatch"]["inputs"]["environment"]["options"] == ["dev", "staging", "prod"]  # a mirror follows its source
    assert "222222222222:role/vault-staging" in rollback["jobs"]["rollback"]["with"]["role-arn"]
    dr = load(workflows / "dr-sync.yml")["jobs"]
    assert list(dr) == ["dr"] and dr["dr"]["with"]["environment"] == "dr"

    files = sorted(str(p) for p in workflows.iterdir())
    for step in (w for p in files for w in load(Path(p))["jobs"].values()):
        assert "steps" not in step  # callers only: every job calls a pinned suite workflow
    subprocess.run(["actionlint", *files], check=True, capture_output=True)
    zizmor = subprocess.run(
        ["zizmor", "--offline", "--quiet", "--config", str(REPO_ROOT / "zizmor.yml"), *files],
        capture_output=True, text=True, check=False,
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr


def test_update_rewrites_only_the_generated_workflows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, STAGING)
    assert main([*INIT, "--dir", str(repo)]) == 0
    workflows = repo / ".github/workflows"
    (workflows / "ci.yml").write_text("name: ci\n")
    before = {p.name: p.read_text() for p in workflows.iterdir()}
    capsys.readouterr()

    assert main(["init", "--update", "--dir", str(repo)]) == 0  # idempotent
    assert "the workflows in .github/workflows already follow vault.yml" in capsys.readouterr().out
    assert {p.name: p.read_text() for p in workflows.iterdir()} == before

    # no gate and no mirror any more: gate.yml and dr-sync.yml go, nothing else is touched
    plain = STAGING.replace("    gate: {approvers: [qa-lead]}\n", "").replace("    gate: {approvers: [manager]}\n", "")
    (repo / "vault.yml").write_text(plain.split("  - {name: dr,")[0])
    assert main(["--json", "init", "--update", "--dir", str(repo)]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["changed"] == ["release.yml"]  # rollback.yml never offered the mirror
    assert data["removed"] == ["dr-sync.yml", "gate.yml"]
    assert sorted(p.name for p in workflows.iterdir()) == ["ci.yml", "release.yml", "rollback.yml"]
    assert (workflows / "ci.yml").read_text() == "name: ci\n"
    assert (repo / "vault.yml").read_text() == plain.split("  - {name: dr,")[0]
    assert "actions: read" not in (workflows / "release.yml").read_text().split("  prod:")[1].split("  record:")[0]


def test_update_keeps_a_workflow_it_did_not_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, STAGING)
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/release.yml").write_text("name: release  # ours\n")
    assert main(["init", "--update", "--dir", str(repo), "--sha", SHA, "--role-arn-prefix", PREFIX]) == 0
    out = capsys.readouterr().out
    assert "kept    .github/workflows/release.yml (not generated by `vault init`; --force replaces it)" in out
    assert (repo / ".github/workflows/release.yml").read_text() == "name: release  # ours\n"
    assert main(["init", "--update", "--dir", str(repo), "--sha", SHA, "--role-arn-prefix", PREFIX, "--force"]) == 0
    assert pipeline.read_pins((repo / ".github/workflows/release.yml").read_text()) is not None


def test_update_needs_the_role_prefix_when_nothing_records_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, STAGING)
    assert main(["init", "--update", "--dir", str(repo), "--sha", SHA]) == 2
    assert "--role-arn-prefix is needed: no generated workflow records it" in capsys.readouterr().err


def test_validate_names_a_wrong_order_and_a_hand_edit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, STAGING)
    assert main([*INIT, "--dir", str(repo)]) == 0
    release = repo / ".github/workflows/release.yml"
    generated = release.read_text()
    swapped = STAGING.replace("  - {name: dev, functions: {orders: orders-dev}}\n", "")
    swapped = swapped.replace("  - {name: dr,", "  - {name: dev, functions: {orders: orders-dev}}\n  - {name: dr,")
    (repo / "vault.yml").write_text(swapped)  # staging → prod → dev
    capsys.readouterr()
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2
    assert (f"{release}: promotes dev → staging → prod but vault.yml promotes staging → prod → dev"
            in capsys.readouterr().err)

    (repo / "vault.yml").write_text(STAGING)
    release.write_text(generated.replace("timeout-minutes: 50", "timeout-minutes: 5"))
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2
    assert f"{release} differs from what vault.yml generates" in capsys.readouterr().err


def test_an_environment_name_that_cannot_be_a_job_id_is_refused(tmp_path: Path) -> None:
    cfg = config.parse(yaml.safe_load(STAGING.replace("name: staging", "name: record")
                                      .replace("orders-staging", "orders-record")), tmp_path / "vault.yml")
    pins = pipeline.Pins("vault-actions/vault-actions", "v1", SHA, "main", PREFIX)
    with pytest.raises(config.ConfigError, match="'record' cannot name a job of the generated release.yml"):
        pipeline.generate(cfg, pins)


def test_the_gate_workflow_refuses_an_environment_without_a_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "vault.yml").write_text(STAGING)
    for key, value in {"INPUT_ENVIRONMENT": "dev", "INPUT_VERSION": "1.0.0", "INPUT_DECISION": "approve",
                       "INPUT_CONFIG": str(tmp_path / "vault.yml")}.items():
        monkeypatch.setenv(key, value)
    assert main(["action", "gate"]) == 3  # refused
    err = capsys.readouterr()
    text = err.out + err.err
    assert "dev has no gate: the gate workflow decides only where vault.yml has a gate" in text
    assert "gated: staging, prod" in text


def test_a_generated_file_edited_out_of_shape_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = repository(tmp_path, STAGING)
    assert main([*INIT, "--dir", str(repo)]) == 0
    gate = repo / ".github/workflows/gate.yml"
    header = "".join(line + "\n" for line in gate.read_text().splitlines() if line.startswith("#"))
    gate.write_text(header + "on: push\njobs: {decide: 1}\n")
    capsys.readouterr()
    assert main(["validate", "--config", str(repo / "vault.yml")]) == 2
    assert f"{gate}: offers none but vault.yml's gated environments are staging, prod" in capsys.readouterr().err
