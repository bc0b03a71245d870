"""Static promises of the actions and workflow templates (act runs them in test_e2e_act)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT as ROOT

TEMPLATES = sorted((ROOT / "workflows-templates").glob("*.yml"))
ACTIONS = sorted(ROOT.glob("action-*/action.yml"))
_PIN_TABLES = [folder / "shared/reference/action-pins.md" for folder in (ROOT.parent, ROOT.parent.parent)]
PINS = {
    action: sha
    for table in _PIN_TABLES if table.exists()
    for action, sha in re.findall(r"\| ([\w-]+/[\w-]+) \| v[\d.]+ \| ([0-9a-f]{40}) \|", table.read_text())
} | {
    # not in action-pins.md: read from each repository's newest release tag (2026-12-01)
    "actions/upload-artifact": "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f",  # v7.0.0
    "actions/download-artifact": "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c",  # v8.0.1
}


def load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # keeps 'on' a string key


def steps_of(doc: Any) -> list[dict[str, Any]]:
    found = list((doc.get("runs") or {}).get("steps") or [])
    for job in (doc.get("jobs") or {}).values():
        found += job.get("steps") or []
    return found


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_suite_copy_is_in_sync(template: Path) -> None:
    """GitHub calls reusable workflows only from .github/workflows: the copy must not drift."""
    copy = ROOT / ".github/workflows" / template.name
    assert copy.exists(), f"{copy} is missing: copy {template} there"
    assert copy.read_text() == template.read_text(), f"{copy} drifted from {template}"


@pytest.mark.parametrize("path", TEMPLATES + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expressions_in_scripts_and_pinned_uses(path: Path) -> None:
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), f"{path}: pass values to run: through env:"
        uses = step.get("uses", "")
        if uses and not uses.startswith(("vault-actions/vault-actions/", "./")):
            action, _, ref = uses.partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path}: {uses} is not pinned by SHA"
            if PINS:
                assert PINS.get(action) == ref, f"{path}: {uses} is not the SHA in action-pins.md"


# Its job takes the caller's permissions (vault init grants each environment its own):
# a reusable workflow cannot vary them by input, and may only narrow what it is given.
INHERITS_PERMISSIONS = {"vault-stage.yml"}


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_least_privilege_and_timeouts(template: Path) -> None:
    doc = load(template)
    inherits = template.name in INHERITS_PERMISSIONS
    assert doc.get("permissions") == (None if inherits else {}), "top-level permissions must be {}"
    for name, job in doc["jobs"].items():
        assert "timeout-minutes" in job, f"job {name} has no timeout-minutes"
        assert ("permissions" in job) != inherits, f"job {name} has no permissions"
        if "environment" in job:
            concurrency = job["concurrency"]
            assert concurrency["cancel-in-progress"] == "false", f"{name} could cancel a deploy"
            assert job["environment"] in concurrency["group"]
        for step in job.get("steps") or []:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] == "false"


def test_the_suite_knows_no_environment_list() -> None:
    """Finding 1: the environments are the caller's (generated from vault.yml); no suite
    workflow names one."""
    for template in TEMPLATES:
        text = template.read_text()
        for env in ("dev", "qa", "uat", "prod"):
            assert not re.search(rf"(environment|role-to-assume|group):[^\n]*\b{env}\b", text), (template.name, env)
    stage = load(ROOT / "workflows-templates/vault-stage.yml")["jobs"]["stage"]
    assert stage["environment"] == "${{ inputs.environment }}"
    assert "${{ inputs.environment }}" in stage["concurrency"]["group"]
    roles = {step["with"]["role-to-assume"] for name in ("vault-build.yml", "vault-stage.yml", "vault-record.yml")
             for job in load(ROOT / "workflows-templates" / name)["jobs"].values() for step in job["steps"]
             if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")}
    assert roles == {"${{ inputs.role-arn }}"}
    record = load(ROOT / "workflows-templates/vault-record.yml")["jobs"]["record"]
    report = next(s for s in record["steps"] if s.get("id") == "report")
    assert report["with"]["stages"] == "${{ inputs.stages }}"


def test_builds_run_without_cloud_credentials() -> None:
    """Finding 1: build commands run in a job with contents: read only, no id-token and no
    AWS role; the job that tags and writes the vault runs no build and checks the digests."""
    jobs = load(ROOT / "workflows-templates/vault-build.yml")["jobs"]
    assert sorted(jobs) == ["build", "publish"]
    build, publish = jobs["build"], jobs["publish"]
    assert publish["permissions"] == {"contents": "write", "id-token": "write"}
    assert build["permissions"] == {"contents": "read"}
    assert not [s for s in build["steps"] if s.get("uses", "").startswith("aws-actions/")]
    runs = [s for s in build["steps"] if s.get("uses", "").startswith("vault-actions/vault-actions/action-build@")]
    assert [s["with"]["mode"] for s in runs] == ["zips"] and "github-token" not in runs[0]["with"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == runs[0]["with"]["dir"]
    assert build["outputs"]["digests"] == "${{ steps.build.outputs.digests }}"

    assert publish["needs"] == "build"
    steps = [s.get("uses", "").split("@")[0] for s in publish["steps"]]
    assert steps == ["actions/checkout", "aws-actions/configure-aws-credentials", "actions/download-artifact",
                     "vault-actions/vault-actions/action-build"]
    download, action = publish["steps"][2], publish["steps"][3]
    assert action["with"]["mode"] == "publish" and action["with"]["dir"] == download["with"]["path"]
    assert action["with"]["digests"] == "${{ needs.build.outputs.digests }}"
    assert publish["steps"][0]["with"]["fetch-depth"] == "0"


def test_action_build_never_hands_the_token_to_the_zips_half() -> None:
    step = next(s for s in load(ROOT / "action-build/action.yml")["runs"]["steps"] if s.get("id") == "build")
    assert step["env"]["GITHUB_TOKEN"] == "${{ inputs.mode != 'zips' && inputs.github-token || '' }}"


def test_dr_sync_never_runs_untrusted_code() -> None:
    doc = load(ROOT / "workflows-templates/vault-dr-sync.yml")
    checkout = next(s for s in doc["jobs"]["dr-sync"]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_inputs_are_documented(path: Path) -> None:
    doc = load(path)
    assert set(path.parent.iterdir()) <= {path, path.parent / "README.md"}, "action folders hold only YAML"
    for name, spec in doc.get("inputs", {}).items():
        assert re.fullmatch(r"[a-z][a-z0-9-]*", name), f"{name} is not kebab-case"
        assert "description" in spec
        if spec.get("required") != "true":
            assert "default" in spec and "Default" in spec["description"], f"{path}: {name} must state its default"


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: p.parent.name)
def test_action_scripts_pass_shellcheck(path: Path) -> None:
    """actionlint checks workflow scripts; the composite actions' scripts get the same."""
    import subprocess

    for step in steps_of(load(path)):
        if "run" in step:
            assert step.get("shell") == "bash", f"{path}: composite steps need shell: bash"
            done = subprocess.run(
                ["shellcheck", "--shell=bash", "-"], input=step["run"], capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, f"{path}: {step.get('name')}: {done.stdout}"
