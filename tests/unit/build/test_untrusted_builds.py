"""The Factory against its own build scripts and an unlucky operator (issue 11).

Build scripts are other people's code (npm postinstall, a compromised dependency). Each
test gives the script only what a build really has and tries to break a promise:
finding 1 (no credentials, no token, no git hooks; the two halves), 6 (size), 9 (dirty
work tree). Real git repositories, real bash scripts, the vault on a moto server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, parse_outputs
from tests.unit.build.test_factory import keys, release
from vault_actions import config
from vault_actions.build import factory
from vault_actions.context import RunContext
from vault_actions.errors import ArtifactError, ConfigError, DirtyWorkTree, VersionError
from vault_actions.integrations import git as gitlib
from vault_actions.store.vault import Vault

CTX = RunContext("octocat", "acme/shop", "1", None, None, "https://github.com", "https://api.github.com")
BAIT = {
    "AWS_ACCESS_KEY_ID": "AKIABUILDBAIT",
    "AWS_SECRET_ACCESS_KEY": "bait-secret",
    "AWS_SESSION_TOKEN": "bait-session",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "bait-oidc-request-token",
    "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.actions.githubusercontent.com/bait",
    "ACTIONS_RUNTIME_TOKEN": "bait-runtime",
    "GITHUB_TOKEN": "ghs_bait",
    "GH_TOKEN": "ghs_bait_gh",
    "INPUT_GITHUB_TOKEN": "ghs_bait_input",
}
HOSTILE = """#!/usr/bin/env bash
# A hostile build: keeps every credential it can find, plants git hooks, then builds.
set -u
loot="$1"
env | grep -E '^(AWS_|ACTIONS_|GITHUB_TOKEN|GH_TOKEN|INPUT_)' >> "$loot" || true
printf 'VAULT_VERSION=%s HOME=%s\\n' "$VAULT_VERSION" "${HOME:+set}" >> "$loot.seen"
hooks="$(git rev-parse --git-path hooks)"
mkdir -p "$hooks"
for hook in pre-push reference-transaction post-checkout; do
  cat > "$hooks/$hook" <<HOOK
#!/usr/bin/env bash
{ echo "hook \\$0"; env; git config --get-all http.extraheader; } >> "$loot.hook"
exit 0
HOOK
  chmod +x "$hooks/$hook"
done
mkdir -p dist && cp -R src/. dist/
"""


def hostile_repo(repo: Path, tmp_path: Path) -> Path:
    """The price-fetcher builds with HOSTILE (committed); returns where its loot goes."""
    loot = tmp_path / "loot"
    (repo / "services/price-fetcher/build.sh").write_text(HOSTILE)
    text = (repo / "vault.yml").read_text()
    first = text.index("    build: ")
    line_end = text.index("\n", first)
    text = text[:first] + f"    build: bash build.sh {loot}" + text[line_end:]
    (repo / "vault.yml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fix: build with a script")
    return loot


# --- finding 1: builds without cloud credentials ---------------------------------------


def test_a_build_script_finds_no_credentials(
    repo: Path, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even where the build runs beside the AWS session (locally), the script sees none of it."""
    for key in ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_RUNTIME_TOKEN",
                "GITHUB_TOKEN", "GH_TOKEN", "INPUT_GITHUB_TOKEN"):
        monkeypatch.setenv(key, BAIT[key])
    loot = hostile_repo(repo, tmp_path)
    outcome = release(repo, s3)
    assert outcome.status == "built"
    assert os.environ["AWS_ACCESS_KEY_ID"]  # the session was there, in the same process
    assert not loot.exists() or loot.read_text() == ""
    assert (tmp_path / "loot.seen").read_text() == "VAULT_VERSION=1.0.0 HOME=set\n"


def test_the_build_environment_is_small_and_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in BAIT.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("npm_config_cache", "/cache/npm")
    monkeypatch.setenv("SECRET_SAUCE", "x")
    monkeypatch.setenv("NODE_ENV", "production")
    service = config.Service("api", Path("."), build_env=("NODE_ENV",))
    env = factory.build_environment(service, "1.2.3")
    assert set(env) <= factory.BUILD_ENVIRONMENT | {"LC_ALL", "NODE_ENV", "VAULT_VERSION", "VAULT_SERVICE"}
    assert env["npm_config_cache"] == "/cache/npm" and env["LC_ALL"] == "C.UTF-8"
    assert env["NODE_ENV"] == "production" and env["VAULT_VERSION"] == "1.2.3"
    assert not set(BAIT) & set(env) and "SECRET_SAUCE" not in env


def test_a_planted_pre_push_hook_never_runs(
    repo: Path, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build plants .git/hooks/pre-push to catch the token and the auth header of
    `vault build --push`: git runs no hook, and the push still carries the token."""
    monkeypatch.setenv("GITHUB_TOKEN", BAIT["GITHUB_TOKEN"])
    loot = hostile_repo(repo, tmp_path)
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    hooks = Path(git(repo, "rev-parse", "--absolute-git-dir")) / "hooks"

    release(repo, s3, push=True, token=BAIT["GITHUB_TOKEN"])

    assert (hooks / "pre-push").stat().st_mode & 0o111  # planted, executable
    assert git(origin, "tag") == "v1.0.0"
    assert not Path(f"{loot}.hook").exists()
    git(repo, "tag", "v0.0.1-plain")  # plain git (no hooksPath) would have run them
    assert "hook" in Path(f"{loot}.hook").read_text()


def test_git_gets_a_scrubbed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in BAIT.items():
        monkeypatch.setenv(key, value)
    seen = gitlib.environment()
    assert not set(BAIT) & set(seen)
    assert set(seen) <= gitlib.GIT_ENVIRONMENT | {k for k in seen if k.startswith("LC_")}


def vault(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vault_actions", *args], cwd=repo, env=env,
                          capture_output=True, text=True, check=False)


def test_the_zips_half_needs_no_cloud_and_the_publish_half_checks_every_digest(
    repo: Path, s3: Any, vault_bucket: str, tmp_path: Path
) -> None:
    """The release workflow's two jobs: zips with no AWS at all, then tag + vault."""
    bare = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    zips_dir = tmp_path / "zips"
    made = vault(repo, "build", "--zips-to", str(zips_dir), "--json", env=bare)
    assert made.returncode == 0, made.stderr
    data = json.loads(made.stdout)
    assert data["status"] == "zipped" and data["version"] == "1.0.0"
    assert sorted(p.name for p in zips_dir.iterdir()) == ["config-service.zip", "price-fetcher.zip", "release.json"]
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []
    digests = data["digests"]
    cfg = config.load(repo / "vault.yml")

    # the zip changes in transit (or after it was digested): refused, nothing uploaded
    original = (zips_dir / "price-fetcher.zip").read_bytes()
    (zips_dir / "price-fetcher.zip").write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ArtifactError, match="price-fetcher: .* has sha256 .* the zip changed after it was built"):
        factory.load_zips(cfg, zips_dir, digests)
    (zips_dir / "price-fetcher.zip").write_bytes(original)
    # the index agrees with the files but not with the digests handed over apart from them
    wrong = {**digests, "config-service": "0" * 64}
    with pytest.raises(ArtifactError, match="config-service: .* not the"):
        factory.load_zips(cfg, zips_dir, wrong)
    with pytest.raises(ArtifactError, match=r"are for services \['config-service', 'price-fetcher'\] \(digests given for \['price-fetcher'\]\)"):
        factory.load_zips(cfg, zips_dir, {"price-fetcher": digests["price-fetcher"]})
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []

    published = vault(repo, "build", "--publish-from", str(zips_dir), "--digests", json.dumps(digests),
                      "--json", env=dict(os.environ))
    assert published.returncode == 0, published.stderr
    result = json.loads(published.stdout)
    assert result["status"] == "built" and git(repo, "tag") == "v1.0.0"
    assert {a["service"]: a["sha256"] for a in result["artifacts"]} == digests


def test_zips_of_another_commit_are_not_published(repo: Path, s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    cfg = config.load(repo / "vault.yml")
    zips = factory.build_zips(cfg, tmp_path / "zips")
    assert zips is not None
    git(repo, "commit", "-q", "--allow-empty", "-m", "fix: later")
    loaded = factory.load_zips(cfg, tmp_path / "zips", zips.digests)
    with pytest.raises(VersionError, match=r"the zips are v1.0.0 of commit .*, but this checkout .* releases v1.0.0"):
        factory.publish(cfg, Vault(s3, vault_bucket), CTX, loaded)
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []


def test_action_build_in_two_modes(repo: Path, s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    out, summary, folder = tmp_path / "out", tmp_path / "summary", tmp_path / "zips"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(summary),
           "INPUT_CONFIG": "vault.yml", "INPUT_MODE": "zips", "INPUT_DIR": str(folder), "INPUT_PUSH_TAG": "false"}
    bare = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    assert vault(repo, "action", "build", env=bare).returncode == 0
    outputs = parse_outputs(out.read_text())
    assert outputs["status"] == "zipped" and outputs["version"] == "1.0.0" and outputs["dir"] == str(folder)
    assert "built (no credentials)" in summary.read_text()

    missing = vault(repo, "action", "build", env={**env, "INPUT_MODE": "publish"})
    assert missing.returncode == 2 and "input 'digests' is empty" in missing.stdout
    bad = vault(repo, "action", "build", env={**env, "INPUT_MODE": "both"})
    assert "input 'mode' is 'both'" in bad.stdout and "all, zips, publish" in bad.stdout

    out.write_text("")
    done = vault(repo, "action", "build", env={**env, "INPUT_MODE": "publish", "INPUT_DIGESTS": outputs["digests"]})
    assert done.returncode == 0, done.stdout + done.stderr
    published = parse_outputs(out.read_text())
    assert published["status"] == "built" and published["manifest-uri"] == f"s3://{vault_bucket}/v1.0.0/manifest.json"


def test_a_dist_the_build_links_out_of_the_repository_is_refused(repo: Path, s3: Any, vault_bucket: str, tmp_path: Path) -> None:
    (tmp_path / "home-ssh").mkdir()
    (tmp_path / "home-ssh" / "known").write_text("x")
    text = (repo / "vault.yml").read_text()
    first = text.index("    build: ")
    text = text[:first] + f"    build: ln -s {tmp_path / 'home-ssh'} dist\n" + text[text.index("\n", first) + 1:]
    (repo / "vault.yml").write_text(text)
    git(repo, "commit", "-qam", "fix: link dist")
    with pytest.raises(ArtifactError, match=rf"price-fetcher: dist 'dist' leads to {tmp_path / 'home-ssh'}, outside the repository"):
        release(repo, s3)
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []


# --- finding 6: the unzipped size -------------------------------------------------------


@pytest.mark.parametrize(("size", "max_size", "limit"), [
    (300 * 2**20, None, "Lambda's limit of 262,144,000 bytes"),
    (4096, 1024, "the service's max-size of 1,024 bytes"),
])
def test_an_oversized_dist_is_refused_before_anything_is_uploaded(
    repo: Path, s3: Any, vault_bucket: str, size: int, max_size: int | None, limit: str
) -> None:
    """300 MiB of zeros (sparse: the test stays fast) would zip to almost nothing."""
    build = f"mkdir -p dist && cp -R src/. dist/ && truncate -s {size} dist/model.bin"
    text = (repo / "vault.yml").read_text()
    first = text.index("    build: ")
    extra = f"\n    max-size: {max_size}" if max_size else ""
    text = text[:first] + f"    build: {build}{extra}\n" + text[text.index("\n", first) + 1:]
    (repo / "vault.yml").write_text(text)
    git(repo, "commit", "-qam", "fix: ship a model")
    with pytest.raises(ArtifactError, match=f"over {limit}; nothing was tagged or uploaded") as err:
        release(repo, s3)
    assert err.value.hint and "ship less" in err.value.hint
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []


# --- finding 9: a dirty work tree -------------------------------------------------------


def test_a_dirty_work_tree_is_refused(repo: Path, s3: Any, vault_bucket: str) -> None:
    (repo / "services/price-fetcher/src/index.js").write_text("exports.handler = () => 'local hack';\n")
    (repo / "notes.txt").write_text("todo\n")
    with pytest.raises(DirtyWorkTree, match=r"has uncommitted changes:  M services/price-fetcher/src/index.js, \?\? notes.txt") as err:
        release(repo, s3)
    assert err.value.hint and "git stash --include-untracked" in err.value.hint and "--allow-dirty" in err.value.hint
    assert git(repo, "tag") == "" and keys(s3, vault_bucket) == []


def test_allow_dirty_is_for_local_experiments_only(
    repo: Path, s3: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (repo / "notes.txt").write_text("todo\n")
    assert release(repo, s3, allow_dirty=True).status == "built"
    assert "building a dirty work tree (--allow-dirty): ?? notes.txt" in caplog.text
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    git(repo, "commit", "-q", "--allow-empty", "-m", "fix: again")
    with pytest.raises(ConfigError, match="--allow-dirty is refused in GitHub Actions"):
        release(repo, s3, allow_dirty=True)
