"""``vault deploy --plan`` (issue 14, finding 4): what a deploy would change and why it
would be refused, with no write at all, on the moto server's vault and functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import store_manifest
from tests.unit.deliver.test_deploy import Pipeline, pipeline, served_sha, world
from vault_actions import cli
from vault_actions.store.vault import Vault

__all__ = ["pipeline", "world"]  # the fixtures


def snapshot(pipeline: Pipeline) -> dict[str, Any]:
    """Every object version of the vault bucket and every function's code, versions and
    aliases: what a plan must leave exactly as it was."""
    s3, lambda_ = pipeline.world.s3, pipeline.world.lambda_
    listed = s3.list_object_versions(Bucket=pipeline.world.bucket)
    found: dict[str, Any] = {"objects": sorted(
        (v["Key"], v["VersionId"]) for v in listed.get("Versions", ()))}
    for env in pipeline.cfg.environments:
        for function in env.functions.values():
            found[function] = (
                lambda_.get_function(FunctionName=function)["Configuration"]["CodeSha256"],
                [v["Version"] for v in lambda_.list_versions_by_function(
                    FunctionName=function)["Versions"]],
                [(a["Name"], a["FunctionVersion"]) for a in lambda_.list_aliases(
                    FunctionName=function)["Aliases"]])
    return found


def plan(pipeline: Pipeline, env: str, version: str, capsys: pytest.CaptureFixture[str],
         *extra: str) -> tuple[int, dict[str, Any]]:
    before = snapshot(pipeline)
    code = cli.main(["deploy", "--plan", "--env", env, "--version", version,
                     "--config", str(pipeline.path), "--json", *extra])
    assert snapshot(pipeline) == before, "a plan changed something"
    return code, json.loads(capsys.readouterr().out)


def shas(pipeline: Pipeline, version: str) -> dict[str, str]:
    manifest = Vault(pipeline.world.s3, pipeline.world.bucket).require_manifest(version)
    return {a.service: a.code_sha256 for a in manifest.artifacts}


def test_finding_4_deploy_plan_shows_each_functions_change_and_writes_nothing(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.deploy("dev")
    pipeline.passed("dev")
    pipeline.world.release("1.1.0", ["alpha", "beta"])
    live = {s: served_sha(pipeline.world.lambda_, f)
            for s, f in pipeline.cfg.environment("dev").functions.items()}

    code, data = plan(pipeline, "dev", "1.1.0", capsys)

    assert code == 0 and data["proceeds"] is True and data["refusals"] == []
    assert data["rollout"] == "all-at-once"
    new = shas(pipeline, "1.1.0")
    assert [(c["service"], c["action"], c["current_version"], c["current_sha256"],
             c["new_sha256"]) for c in data["changes"]] == [
        (s, "update", "1", live[s], new[s]) for s in ("alpha", "beta")]
    assert pipeline.events("1.1.0") == []  # not even a deploy_failed

    code, data = plan(pipeline, "qa", "1.0.0", capsys)
    assert code == 0 and {c["action"] for c in data["changes"]} == {"create alias"}

    code, data = plan(pipeline, "dev", "1.0.0", capsys)  # a rerun: nothing would move
    assert code == 0 and {c["action"] for c in data["changes"]} == {"unchanged"}


def test_finding_4_deploy_plan_text_says_what_and_why(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["deploy", "--plan", "--env", "uat", "--version", "1.0.0",
                     "--config", str(pipeline.path)])
    out = capsys.readouterr().out
    assert code == 3
    assert "Plan: v1.0.0 → uat (all-at-once); nothing was changed or recorded" in out
    assert "create alias: (no alias) - → v1.0.0" in out
    assert "⛔ the deploy would be refused (1):" in out
    assert "promotion policy: v1.0.0 has never been deployed to qa" in out


def freeze_now(pipeline: Pipeline, env: str) -> None:
    now = datetime.now(UTC)
    window = (f"    freeze:\n      - {{name: change-freeze, from: '{now - timedelta(hours=1):%Y-%m-%dT%H:%M}Z',"
              f" until: '{now + timedelta(hours=2):%Y-%m-%dT%H:%M}Z'}}\n")
    text = pipeline.path.read_text()
    anchor = f"  - name: {env}\n"
    pipeline.path.write_text(text.replace(anchor, anchor + window))


def bake_dev(pipeline: Pipeline) -> None:
    text = pipeline.path.read_text()
    pipeline.path.write_text(text.replace("  - name: dev\n",
                                          "  - name: dev\n    promote-after-minutes: 60\n"))


@pytest.mark.parametrize(("case", "env", "version", "check", "says"), [
    ("promotion", "prod", "1.0.0", "promotion policy", "has never been deployed to uat"),
    ("freeze", "qa", "1.0.0", "freeze", "qa is frozen: window 'change-freeze' until"),
    ("bake", "qa", "1.0.0", "promotion policy", "qa takes versions that stood there 60 min"),
    ("pin", "dev", "2.0.0", "pinned release", "v2.0.0 has no built event naming its manifest"),
    ("downgrade", "dev", "1.0.0", "no downgrade", "dev runs v1.1.0, which is newer than v1.0.0"),
])
def test_finding_4_deploy_plan_is_refused_with_the_reason_and_exit_3(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], case: str, env: str,
    version: str, check: str, says: str,
) -> None:
    pipeline.deploy("dev")
    pipeline.passed("dev")
    if case == "freeze":
        freeze_now(pipeline, "qa")
    if case == "bake":
        bake_dev(pipeline)
    if case == "pin":  # a manifest written behind the build's back: no built event pins it
        store_manifest(pipeline.world.s3, pipeline.world.bucket, "2.0.0")
    if case == "downgrade":
        pipeline.world.release("1.1.0", ["alpha", "beta"])
        pipeline.deploy("dev", "1.1.0")
    events = pipeline.events(version)

    code, data = plan(pipeline, env, version, capsys)

    assert code == 3 and data["proceeds"] is False
    refusal = next(r for r in data["refusals"] if r["check"] == check)
    assert says in refusal["message"] and refusal["hint"]
    assert pipeline.events(version) == events


def test_finding_4_a_freeze_override_is_planned_not_recorded(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.deploy("dev")
    pipeline.passed("dev")
    freeze_now(pipeline, "qa")
    code, data = plan(pipeline, "qa", "1.0.0", capsys, "--override-freeze", "--reason", "hotfix")
    assert code == 0 and data["freeze_override"].startswith("'change-freeze' until ")
    assert ("freeze_overridden", "qa") not in pipeline.events()


def test_deploy_plan_of_an_unknown_version_is_refused_and_records_nothing(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, data = plan(pipeline, "dev", "9.9.9", capsys)
    assert code == 3
    assert data["refusals"][0]["check"] == "pinned release"
    assert "v9.9.9 was never built" in data["refusals"][0]["message"]
