"""The Factory end to end: real git repos, real builds, the vault on a moto server."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, parse_outputs, write_config, write_service
from tests.unit.store.test_vault import error_response
from vault_actions import config
from vault_actions.build import factory
from vault_actions.context import RunContext
from vault_actions.errors import BuildError, ImmutableVersionError, VaultError, VersionError
from vault_actions.store.vault import Vault

CTX = RunContext("octocat", "acme/shop", "1", "https://github.com/acme/shop/actions/runs/1", None,
                 "https://github.com", "https://api.github.com")


def release(repo: Path, s3: Any, **kwargs: Any) -> factory.Outcome:
    cfg = config.load(repo / "vault.yml")
    return factory.release(cfg, Vault(s3, cfg.vault.bucket, cfg.vault.region), CTX, **kwargs)


def keys(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    return sorted(v["Key"] for v in listed)


def test_first_release_tags_then_locks_everything(repo: Path, s3: Any, vault_bucket: str) -> None:
    order: list[str] = []
    s3.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: order.append(request.url.rsplit("/", 2)[-1])
    )
    outcome = release(repo, s3)

    assert outcome.status == "built" and outcome.version == "1.0.0" and outcome.tag == "v1.0.0"
    assert git(repo, "cat-file", "-t", "v1.0.0") == "tag"  # annotated
    assert git(repo, "rev-list", "-n1", "v1.0.0") == git(repo, "rev-parse", "HEAD")
    assert keys(s3, vault_bucket) == [
        "v1.0.0/claim.json", "v1.0.0/config-service.zip", "v1.0.0/manifest.json",
        "v1.0.0/price-fetcher.zip",
    ]
    assert order[0] == "claim.json" and order[-1] == "manifest.json"
    manifest = outcome.manifest
    assert manifest is not None and manifest.commit == git(repo, "rev-parse", "HEAD")
    assert outcome.manifest_uri == f"s3://{vault_bucket}/v1.0.0/manifest.json"
    for record in manifest.artifacts:
        body = s3.get_object(Bucket=vault_bucket, Key=record.key, VersionId=record.version_id)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == record.sha256
        head = s3.head_object(Bucket=vault_bucket, Key=record.key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == record.code_sha256


def test_failed_build_stops_everything(repo: Path, s3: Any, vault_bucket: str) -> None:
    text = (repo / "vault.yml").read_text().replace("shutil.copytree", "sys.exit(3) or shutil.copytree", 1)
    (repo / "vault.yml").write_text(text.replace("import shutil", "import shutil, sys", 1))
    git(repo, "commit", "-qam", "fix: break the build")
    with pytest.raises(BuildError, match="exited with 3; nothing was tagged or uploaded"):
        release(repo, s3)
    assert git(repo, "tag") == ""
    assert keys(s3, vault_bucket) == []


def test_rerun_finishes_an_incomplete_version(repo: Path, s3: Any, vault_bucket: str) -> None:
    def deny_manifest(request: Any, **_: Any) -> Any:
        return error_response(403, "AccessDenied") if request.url.endswith("manifest.json") else None

    s3.meta.events.register("before-send.s3.PutObject", deny_manifest)
    with pytest.raises(VaultError, match="access denied: writing"):
        release(repo, s3)
    s3.meta.events.unregister("before-send.s3.PutObject", deny_manifest)
    assert git(repo, "tag") == "v1.0.0"
    assert "v1.0.0/manifest.json" not in keys(s3, vault_bucket)

    outcome = release(repo, s3)
    assert outcome.status == "completed" and outcome.version == "1.0.0"
    assert keys(s3, vault_bucket).count("v1.0.0/price-fetcher.zip") == 1  # same bytes, not rewritten
    assert git(repo, "tag") == "v1.0.0"

    again = release(repo, s3)
    assert again.status == "unchanged" and again.manifest == outcome.manifest
    assert len(keys(s3, vault_bucket)) == 4  # claim, two zips, manifest: one version each


def test_nothing_releasable(repo: Path, s3: Any) -> None:
    release(repo, s3)
    git(repo, "commit", "-q", "--allow-empty", "-m", "chore: tidy")
    assert release(repo, s3).status == "nothing-to-release"


def test_next_version_after_fix(repo: Path, s3: Any, vault_bucket: str) -> None:
    release(repo, s3)
    (repo / "services/price-fetcher/src/index.js").write_text("exports.handler = () => 43;\n")
    git(repo, "commit", "-qam", "fix: the answer")
    outcome = release(repo, s3)
    assert outcome.version == "1.0.1"
    assert "v1.0.1/manifest.json" in keys(s3, vault_bucket)


@pytest.mark.parametrize(
    "hostile", ["$(touch pwned)", "`touch pwned`", "1.0.0; touch pwned", "1.0.0\n1.0.1", "-1.0.0", "../1.0.0", "1.0"],
)
def test_hostile_version_override_is_refused(repo: Path, s3: Any, vault_bucket: str, hostile: str) -> None:
    with pytest.raises(VersionError, match="is not allowed"):
        release(repo, s3, override=hostile)
    assert not (repo / "pwned").exists()
    assert git(repo, "tag") == ""
    assert keys(s3, vault_bucket) == []


def test_same_version_from_another_commit_is_refused(repo: Path, s3: Any, vault_bucket: str) -> None:
    first = release(repo, s3)
    assert first.manifest is not None
    git(repo, "tag", "-d", "v1.0.0")  # someone deleted the tag: the vault still remembers
    (repo / "services/price-fetcher/src/index.js").write_text("exports.handler = () => 'other';\n")
    git(repo, "commit", "-qam", "fix: different bytes")
    with pytest.raises(ImmutableVersionError, match="v1.0.0 is already in the vault; versions are immutable"):
        release(repo, s3, override="v1.0.0")
    record = first.manifest.artifact("price-fetcher")
    head = s3.head_object(Bucket=vault_bucket, Key=record.key)
    assert head["VersionId"] == record.version_id


def test_override_onto_a_tag_elsewhere_is_refused(repo: Path, s3: Any) -> None:
    release(repo, s3)
    git(repo, "commit", "-q", "--allow-empty", "-m", "fix: more")
    with pytest.raises(ImmutableVersionError, match="tag v1.0.0 already exists on commit"):
        release(repo, s3, override="1.0.0")


def test_unversioned_bucket_is_refused_before_tagging(repo: Path, s3: Any) -> None:
    s3.create_bucket(Bucket="plain-vault")
    (repo / "vault.yml").write_text((repo / "vault.yml").read_text().replace("bucket: vault-", "bucket: plain-vault\n  # was: vault-"))
    git(repo, "commit", "-qam", "chore: point at plain bucket")
    with pytest.raises(VaultError, match="does not have versioning enabled"):
        release(repo, s3)
    assert git(repo, "tag") == ""


def test_shallow_clone_is_refused(repo: Path, s3: Any, tmp_path: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "fix: second")
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    cfg = config.load(clone / "vault.yml")
    with pytest.raises(VersionError, match="shallow clone") as err:
        factory.release(cfg, Vault(s3, cfg.vault.bucket, cfg.vault.region), CTX)
    assert err.value.hint and "fetch-depth: 0" in err.value.hint


def test_tag_is_pushed_to_origin(repo: Path, s3: Any, tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    release(repo, s3, push=True)
    assert git(origin, "tag") == "v1.0.0"


def vault_cli(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "vault_actions", *args], cwd=repo, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, check=False,
    )


def test_build_command_json_and_ledger(repo: Path, s3: Any, vault_bucket: str) -> None:
    done = vault_cli(repo, "build", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "built" and data["tag"] == "v1.0.0"
    assert [a["service"] for a in data["artifacts"]] == ["config-service", "price-fetcher"]
    assert "exports.handler" not in done.stdout  # build output goes to stderr
    events = s3.list_objects_v2(Bucket=vault_bucket, Prefix="ledger/v1.0.0/")["Contents"]
    assert [e["Key"].split("/")[2] for e in events] == ["build"]  # the build job's folder
    body = json.loads(s3.get_object(Bucket=vault_bucket, Key=events[0]["Key"])["Body"].read())
    assert body["event"] == "built" and body["commit"] == data["commit"]
    # The pin deploys check (finding 4) and who made the release (finding 9).
    manifest = s3.get_object(Bucket=vault_bucket, Key="v1.0.0/manifest.json")
    details = body["details"]
    assert details["manifest_version_id"] == manifest["VersionId"]
    assert details["artifact_sha256"] == {a["service"]: a["sha256"] for a in data["artifacts"]}
    assert details["people"] == ["dev@example.com"]

    again = vault_cli(repo, "build", "--json")  # a rerun finds it complete: no second event
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "unchanged"
    assert len(s3.list_objects_v2(Bucket=vault_bucket, Prefix="ledger/v1.0.0/")["Contents"]) == 1


def test_build_action_outputs_and_summary(repo: Path, s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary"
    env = {
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_ACTOR": "octocat", "GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "7",
        "INPUT_CONFIG": "vault.yml", "INPUT_VERSION": "", "INPUT_PUSH_TAG": "false",
    }
    done = vault_cli(repo, "action", "build", env=env)
    assert done.returncode == 0, done.stderr
    outputs = parse_outputs(out.read_text())
    assert outputs["version"] == "1.0.0" and outputs["tag"] == "v1.0.0" and outputs["status"] == "built"
    assert outputs["manifest-uri"] == f"s3://{vault_bucket}/v1.0.0/manifest.json"
    artifacts = json.loads(outputs["artifacts"])
    assert {a["key"] for a in artifacts} == {"v1.0.0/price-fetcher.zip", "v1.0.0/config-service.zip"}
    text = summary.read_text()
    assert "| service | key | size (bytes) | SHA-256 |" in text
    assert f"`{artifacts[0]['sha256']}`" in text

    env["INPUT_PUSH_TAG"] = "maybe"
    bad = vault_cli(repo, "action", "build", env=env)
    assert bad.returncode == 2  # a bad input: usage
    assert "::error title=Invalid configuration::input 'push-tag' is 'maybe'" in bad.stdout


def test_build_commands_never_see_the_token_or_action_inputs(repo: Path, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Third-party build scripts (npm postinstall…) run in the build step: no token for them."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret")
    monkeypatch.setenv("INPUT_VERSION", "")
    dump = repo / "build-env.json"
    text = (repo / "vault.yml").read_text().replace(
        "import shutil;", f"import shutil, os, json; open(r'{dump}', 'w').write(json.dumps(dict(os.environ)));", 1
    )
    (repo / "vault.yml").write_text(text)
    git(repo, "commit", "-qam", "fix: record the build environment")
    release(repo, s3)
    seen = json.loads(dump.read_text())
    assert "GITHUB_TOKEN" not in seen and not any(k.startswith("INPUT_") for k in seen)
    assert seen["VAULT_VERSION"] == "1.0.0" and seen["VAULT_SERVICE"] == "price-fetcher"


def other_repo(tmp_path: Path, vault_bucket: str, answer: int) -> Path:
    """A second repository releasing into the same vault, with other bytes."""
    root = tmp_path / f"fork-{answer}"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_service(root, "price-fetcher", {"index.js": f"exports.handler = () => {answer};\n"})
    write_service(root, "config-service", {"index.js": "exports.handler = () => 'cfg';\n"})
    write_config(root, vault_bucket, ["price-fetcher", "config-service"])
    (root / ".gitignore").write_text("dist/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feat: other bytes")
    return root


def run_ctx(run: int) -> RunContext:
    return RunContext("octocat", "acme/shop", str(run),
                      f"https://github.com/acme/shop/actions/runs/{run}", None,
                      "https://github.com", "https://api.github.com")


def test_concurrent_builds_of_one_version_leave_one_whole_release(
    repo: Path, s3: Any, vault_bucket: str, tmp_path: Path
) -> None:
    """Finding 7: two builds of one version with different bytes raced to a mixed,
    unfinishable version. Now the first claim wins; the other fails at once, naming
    the winner's run, and leaves nothing; the winner's release is whole."""
    repos = {1: repo, 2: other_repo(tmp_path, vault_bucket, 43)}
    raced = 0
    for trial in range(12):
        version = f"3.0.{trial}"
        barrier = threading.Barrier(2)

        def build(run: int, version: str = version, barrier: threading.Barrier = barrier) -> Any:
            cfg = config.load(repos[run] / "vault.yml")
            vault = Vault(s3, cfg.vault.bucket, cfg.vault.region)
            barrier.wait()
            try:
                return factory.release(cfg, vault, run_ctx(run), override=version)
            except ImmutableVersionError as exc:
                return exc

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = dict(zip(repos, pool.map(build, repos), strict=True))
        won = [run for run, r in results.items() if isinstance(r, factory.Outcome)]
        assert len(won) == 1, results
        winner, loser = won[0], 3 - won[0]
        error = str(results[loser])
        if "another build is releasing" in error:
            raced += 1
            assert f"another build is releasing v{version} (https://github.com/acme/shop/actions/runs/{winner})" in error
        else:  # the winner had finished before the loser looked
            assert f"v{version} is already in the vault" in error
        manifest = results[winner].manifest
        assert manifest is not None
        assert manifest.commit == git(repos[winner], "rev-parse", "HEAD")
        listed = s3.list_object_versions(Bucket=vault_bucket, Prefix=f"v{version}/")["Versions"]
        assert sorted(v["Key"] for v in listed) == sorted(
            [f"v{version}/claim.json", f"v{version}/manifest.json", *(a.key for a in manifest.artifacts)]
        ), "one version of each object: the loser wrote nothing"
        for record in manifest.artifacts:
            body = s3.get_object(Bucket=vault_bucket, Key=record.key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == record.sha256
    assert raced > 0, "the builds never overlapped: the race was not exercised"


def test_a_rerun_of_the_claimants_commit_finishes_and_another_commit_cannot(
    repo: Path, s3: Any, vault_bucket: str, tmp_path: Path
) -> None:
    """Finding 7: an interrupted release (claimed, zips up, no manifest) is finished by
    its own commit's rerun, never by another commit's build."""
    def deny_manifest(request: Any, **_: Any) -> Any:
        return error_response(403, "AccessDenied") if request.url.endswith("manifest.json") else None

    s3.meta.events.register("before-send.s3.PutObject", deny_manifest)
    with pytest.raises(VaultError, match="access denied: writing"):
        release(repo, s3)
    s3.meta.events.unregister("before-send.s3.PutObject", deny_manifest)

    fork = other_repo(tmp_path, vault_bucket, 44)
    cfg = config.load(fork / "vault.yml")
    with pytest.raises(ImmutableVersionError, match=r"another build is releasing v1\.0\.0 \(https://github.com/acme/shop/actions/runs/1\)"):
        factory.release(cfg, Vault(s3, cfg.vault.bucket, cfg.vault.region), run_ctx(2))
    assert "v1.0.0/manifest.json" not in keys(s3, vault_bucket)

    finished = factory.release(config.load(repo / "vault.yml"),
                               Vault(s3, vault_bucket, "us-east-1"), run_ctx(3))
    assert finished.status == "completed" and finished.manifest is not None
    assert finished.manifest.commit == git(repo, "rev-parse", "HEAD")
