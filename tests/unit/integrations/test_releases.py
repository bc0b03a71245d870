"""GitHub Releases: changelogs from real git history, releases through PyGithub and `responses`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.conftest import GhaFiles, git, store_manifest, write_config, write_service
from tests.unit.deliver.test_deploy import make_pipeline, make_world
from tests.unit.integrations.test_github import bodies, deployment, status, user
from tests.unit.test_config import GOOD, write
from vault_actions.build import changelog
from vault_actions.cli.commands import build as build_command
from vault_actions.cli.commands import conclude as conclude_command
from vault_actions.context import RunContext
from vault_actions.errors import GitHubError
from vault_actions.integrations.github import client as gh_client
from vault_actions.integrations.github import releases as gh_releases
from vault_actions.store.ledger import Ledger
from vault_actions.store.manifest import ArtifactRecord, Manifest

API = "https://api.github.com:443"
REPO = f"{API}/repos/acme/shop"
RELEASES = f"{REPO}/releases"
CTX = RunContext("octocat", "acme/shop", "4242", "https://github.com/acme/shop/actions/runs/4242",
                 None, "https://github.com", "https://api.github.com")


def release(release_id: int, tag: str, body: str, *, prerelease: bool = True) -> dict[str, Any]:
    """A release object as GET /repos/{owner}/{repo}/releases/tags/{tag} returns it."""
    url = f"https://api.github.com/repos/acme/shop/releases/{release_id}"
    return {
        "url": url, "assets_url": f"{url}/assets",
        "upload_url": f"https://uploads.github.com/repos/acme/shop/releases/{release_id}/assets{{?name,label}}",
        "html_url": f"https://github.com/acme/shop/releases/tag/{tag}",
        "id": release_id, "node_id": "RE_kwDOJ2Vq4c4Ha7Pn", "author": user("github-actions[bot]"),
        "tag_name": tag, "target_commitish": "main", "name": tag, "draft": False,
        "immutable": False, "prerelease": prerelease,
        "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
        "published_at": "2026-11-28T10:00:00Z", "assets": [],
        "tarball_url": f"https://api.github.com/repos/acme/shop/tarball/{tag}",
        "zipball_url": f"https://api.github.com/repos/acme/shop/zipball/{tag}",
        "body": body, "mentions_count": 0,
    }


def not_found() -> dict[str, Any]:
    return {"status": 404, "json": {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name",
        "status": "404",
    }}


def gh() -> Any:
    return gh_client.connect("ghs_test", "https://api.github.com")


def commit(repo: Path, message: str) -> str:
    """A commit adding one file of its own (so any commit reverts cleanly)."""
    (repo / f"{len(list(repo.glob('*.txt')))}.txt").write_text(message)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def short(sha: str) -> str:
    return sha[:7]


@pytest.fixture
def history(tmp_path: Path, git_env: None) -> tuple[Path, dict[str, str]]:
    """v1.0.0, a release candidate tag, then every kind of commit, tagged v2.0.0."""
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shas = {"first": commit(repo, "feat: first services")}
    shas["old-fix"] = commit(repo, "fix: round prices down")
    git(repo, "tag", "-a", "-m", "Release v1.0.0", "v1.0.0")
    shas["fix"] = commit(repo, "fix(api): round prices half-even")
    git(repo, "tag", "v1.1.0-rc.1")  # a prerelease tag is never the previous release
    shas["feat"] = commit(repo, "feat(basket): totals per currency")
    shas["perf"] = commit(repo, "perf: cache exchange rates")
    shas["breaking"] = commit(repo, "feat!: drop the v1 endpoints")
    shas["footer"] = commit(repo, "refactor: split handlers\n\nBREAKING CHANGE: handler paths moved")
    shas["chore"] = commit(repo, "chore(deps): bump boto3")
    shas["wip"] = commit(repo, "wip on stuff")
    shas["temp"] = commit(repo, "feat: temporary banner")
    git(repo, "revert", "--no-edit", shas["temp"])  # both in range: they cancel out
    shas["temp-revert"] = git(repo, "rev-parse", "HEAD")
    git(repo, "revert", "--no-edit", shas["old-fix"])  # reverts a commit of v1.0.0
    shas["revert"] = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "-m", "Release v2.0.0", "v2.0.0")
    commit(repo, "feat: after the release")
    return repo, shas


# ---------------------------------------------------------------- changelog


def test_changelog_groups_the_commits_since_the_previous_release(
    history: tuple[Path, dict[str, str]],
) -> None:
    repo, shas = history

    log = changelog.changelog(repo, "v2.0.0")

    assert log.previous == "v1.0.0"
    assert [title for title, _ in log.sections] == [
        "⚠ Breaking changes", "Features", "Bug fixes", "Performance", "Reverts", "Other",
    ]
    assert log.markdown() == "\n".join([
        "## What's changed since v1.0.0",
        "",
        "### ⚠ Breaking changes",
        f"- refactor: split handlers ({short(shas['footer'])})",
        f"- feat!: drop the v1 endpoints ({short(shas['breaking'])})",
        "",
        "### Features",
        f"- feat(basket): totals per currency ({short(shas['feat'])})",
        "",
        "### Bug fixes",
        f"- fix(api): round prices half-even ({short(shas['fix'])})",
        "",
        "### Performance",
        f"- perf: cache exchange rates ({short(shas['perf'])})",
        "",
        "### Reverts",
        f'- Revert "fix: round prices down" ({short(shas["revert"])})',
        "",
        "### Other",
        f"- chore(deps): bump boto3 ({short(shas['chore'])})",
    ])


def test_the_first_release_lists_all_history(history: tuple[Path, dict[str, str]]) -> None:
    repo, shas = history

    log = changelog.changelog(repo, "v1.0.0")

    assert log.previous is None
    assert log.markdown().splitlines() == [
        "## What's changed (first release)",
        "",
        "### Features",
        f"- feat: first services ({short(shas['first'])})",
        "",
        "### Bug fixes",
        f"- fix: round prices down ({short(shas['old-fix'])})",
    ]


def test_long_sections_are_cut_and_an_empty_release_says_so() -> None:
    entries = tuple(changelog.Entry(f"{i:040x}", f"fix: bug {i}") for i in range(changelog.MAX_ENTRIES + 2))

    text = changelog.Changelog("v3.0.0", "v2.0.0", (("Bug fixes", entries),)).markdown()

    assert text.count("\n- fix: bug ") == changelog.MAX_ENTRIES
    assert text.endswith("- … and 2 more (see `git log`)")
    assert changelog.Changelog("v3.0.0", "v2.0.0", ()).markdown() == (
        "## What's changed since v2.0.0\n\nNo conventional commits in this release."
    )


def manifest(tag: str = "v2.0.0") -> Manifest:
    return Manifest(
        version=tag[1:], tag=tag, commit="a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
        built_at="2026-11-28T10:00:00+00:00", built_by="octocat",
        run_url="https://github.com/acme/shop/actions/runs/4242",
        bucket="acme-vault", region="us-east-1",
        artifacts=(
            ArtifactRecord("config-service", f"{tag}/config-service.zip", 120, "ab" * 32,
                           "q6urq6s=", "v1"),
            ArtifactRecord("price-fetcher", f"{tag}/price-fetcher.zip", 340, "cd" * 32,
                           "zc3Nzc0=", "v2"),
        ),
    )


def test_release_notes_hold_the_changelog_the_manifest_and_the_artifacts(
    history: tuple[Path, dict[str, str]],
) -> None:
    repo, _ = history

    notes = changelog.release_notes(repo, manifest(), "s3://acme-vault/v2.0.0/manifest.json")

    assert notes.startswith(changelog.changelog(repo, "v2.0.0").markdown() + "\n\n## In the vault")
    assert "Manifest: `s3://acme-vault/v2.0.0/manifest.json`" in notes
    assert "Built from `a84d88e7554f` by octocat in https://github.com/acme/shop/actions/runs/4242." in notes
    assert notes.endswith("\n".join([
        "| service | key | SHA-256 |",
        "| --- | --- | --- |",
        f"| config-service | `v2.0.0/config-service.zip` | `{'ab' * 32}` |",
        f"| price-fetcher | `v2.0.0/price-fetcher.zip` | `{'cd' * 32}` |",
    ]))


# ---------------------------------------------------------------- releases on GitHub


def test_the_build_creates_a_prerelease(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", **not_found())
    api.post(RELEASES, status=201, json=release(77, "v2.0.0", "notes"))

    change = gh_releases.publish_prerelease(gh(), "acme/shop", "v2.0.0", commit="a84d88e", notes="notes")

    assert change == "created"
    assert bodies(api, "POST", RELEASES) == [{
        "tag_name": "v2.0.0", "name": "v2.0.0", "body": "notes", "draft": False,
        "prerelease": True, "generate_release_notes": False, "target_commitish": "a84d88e",
        "make_latest": "false",
    }]


def test_a_rerun_updates_the_release_instead_of_duplicating_it(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "old notes"))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", "new notes"))

    change = gh_releases.publish_prerelease(gh(), "acme/shop", "v2.0.0", commit="a84d88e", notes="new notes")

    assert change == "updated"
    assert bodies(api, "POST", RELEASES) == []
    assert bodies(api, "PATCH", f"{RELEASES}/77") == [{"name": "v2.0.0", "body": "new notes"}]


def test_a_rerun_with_the_same_notes_changes_nothing(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "notes", prerelease=False))

    change = gh_releases.publish_prerelease(gh(), "acme/shop", "v2.0.0", commit="a84d88e", notes="notes")

    assert change == "unchanged"
    assert [c.request.method for c in api.calls] == ["GET"]


def test_a_rerun_keeps_the_dead_notice(api: responses.RequestsMock) -> None:
    notice = "🪦 **Dead**: smoke_failed in qa at 2026-11-28 10:05:00 UTC by octocat. This version is never promoted; see the next release."
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", f"{notice}\n\nold notes"))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", "x"))

    gh_releases.publish_prerelease(gh(), "acme/shop", "v2.0.0", commit="a84d88e", notes="new notes")

    assert bodies(api, "PATCH", f"{RELEASES}/77") == [{"name": "v2.0.0", "body": f"{notice}\n\nnew notes"}]


def test_prod_promotion_marks_a_full_latest_release(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "notes"))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", "notes", prerelease=False))

    assert gh_releases.promote_release(gh(), "acme/shop", "v2.0.0") == "updated"

    assert bodies(api, "PATCH", f"{RELEASES}/77") == [{"prerelease": False, "make_latest": "true"}]


def test_promoting_again_changes_nothing_unless_another_release_is_latest(
    api: responses.RequestsMock,
) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "notes", prerelease=False))
    api.get(f"{RELEASES}/latest", json=release(77, "v2.0.0", "notes", prerelease=False))

    assert gh_releases.promote_release(gh(), "acme/shop", "v2.0.0") == "unchanged"
    assert bodies(api, "PATCH", f"{RELEASES}/77") == []

    api.replace(responses.GET, f"{RELEASES}/latest", json=release(78, "v2.1.0", "n", prerelease=False))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", "notes", prerelease=False))

    assert gh_releases.promote_release(gh(), "acme/shop", "v2.0.0") == "updated"  # prod went back
    assert bodies(api, "PATCH", f"{RELEASES}/77") == [{"make_latest": "true"}]


def test_no_release_to_promote(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", **not_found())

    assert gh_releases.promote_release(gh(), "acme/shop", "v2.0.0") == "missing"
    assert len(api.calls) == 1


def test_a_dead_version_gets_its_notice_once(api: responses.RequestsMock) -> None:
    notice = "🪦 **Dead**: rejected in uat at 2026-11-28 10:05:00 UTC by po (wrong totals). This version is never promoted; see the next release."
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "## What's changed"))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", f"{notice}\n\n## What's changed"))

    assert gh_releases.bury_release(gh(), "acme/shop", "v2.0.0", notice) == "updated"
    api.replace(responses.GET, f"{RELEASES}/tags/v2.0.0",
                json=release(77, "v2.0.0", f"{notice}\n\n## What's changed"))
    assert gh_releases.bury_release(gh(), "acme/shop", "v2.0.0", notice) == "unchanged"

    assert bodies(api, "PATCH", f"{RELEASES}/77") == [{"body": f"{notice}\n\n## What's changed"}]


def test_a_version_dead_in_prod_is_no_longer_a_full_release(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", json=release(77, "v2.0.0", "notes", prerelease=False))
    api.patch(f"{RELEASES}/77", json=release(77, "v2.0.0", "x"))

    gh_releases.bury_release(gh(), "acme/shop", "v2.0.0", "🪦 **Dead**: smoke_failed in prod")

    assert bodies(api, "PATCH", f"{RELEASES}/77") == [
        {"body": "🪦 **Dead**: smoke_failed in prod\n\nnotes", "prerelease": True},
    ]


def test_missing_contents_permission_is_named(api: responses.RequestsMock) -> None:
    api.get(f"{RELEASES}/tags/v2.0.0", **not_found())
    api.post(RELEASES, status=403, json={
        "message": "Resource not accessible by integration",
        "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release",
    })

    with pytest.raises(GitHubError, match="creating the release v2.0.0 in acme/shop: HTTP 403") as caught:
        gh_releases.publish_prerelease(gh(), "acme/shop", "v2.0.0", commit="a84d88e", notes="notes")

    assert "contents: write" in str(caught.value.hint)


# ---------------------------------------------------------------- the hooks in the commands


@pytest.fixture
def shop(tmp_path: Path, git_env: None, vault_bucket: str, gha_env: GhaFiles,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one service, built inside Actions with a token."""
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    root = tmp_path / "shop"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write_service(root, "price-fetcher", {"index.js": "exports.handler = () => 42;\n"})
    write_config(root, vault_bucket, ["price-fetcher"])
    (root / ".gitignore").write_text("dist/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feat: first services")
    return root


def listed_commit(sha: str, email: str, login: str | None) -> dict[str, Any]:
    """One entry of ``GET /repos/{repo}/commits`` as GitHub returns it (abridged)."""
    person = {"name": "Dev", "email": email, "date": "2026-03-01T10:00:00Z"}
    account = None if login is None else {
        "login": login, "id": 583231, "node_id": "MDQ6VXNlcjU4MzIzMQ==", "type": "User",
        "url": f"https://api.github.com/users/{login}", "site_admin": False,
    }
    return {
        "sha": sha, "node_id": "C_kwDOAAABc9oAKDQ",
        "commit": {"author": person, "committer": person, "message": "feat: first services",
                   "tree": {"sha": "9c4d", "url": f"{API}/repos/acme/shop/git/trees/9c4d"},
                   "comment_count": 0, "verification": {"verified": False, "reason": "unsigned"}},
        "url": f"{REPO}/commits/{sha}", "html_url": f"https://github.com/acme/shop/commit/{sha}",
        "author": account, "committer": account, "parents": [],
    }


def test_the_build_publishes_its_prerelease_and_a_rerun_updates_it(
    shop: Path, api: responses.RequestsMock, vault_bucket: str, s3: Any
) -> None:
    sha = git(shop, "rev-parse", "HEAD")
    api.get(f"{REPO}/commits", json=[listed_commit(sha, "dev@example.com", "devlogin")])
    api.get(f"{RELEASES}/tags/v1.0.0", **not_found())
    api.post(RELEASES, status=201, json=release(5, "v1.0.0", "notes"))

    outcome = build_command.build(str(shop / "vault.yml"), None, push=False)

    assert outcome.status == "built" and outcome.manifest is not None
    [built] = Ledger(s3, vault_bucket).events("1.0.0")
    assert built.details["people"] == ["dev@example.com", "devlogin"]  # GitHub's login, and git's email
    [created] = bodies(api, "POST", RELEASES)
    assert (created["tag_name"], created["prerelease"], created["target_commitish"]) == ("v1.0.0", True, sha)
    assert f"### Features\n- feat: first services ({sha[:7]})" in created["body"]
    assert f"Manifest: `s3://{vault_bucket}/v1.0.0/manifest.json`" in created["body"]
    [artifact] = outcome.manifest.artifacts
    assert f"| price-fetcher | `v1.0.0/price-fetcher.zip` | `{artifact.sha256}` |" in created["body"]

    api.reset()
    api.get(f"{RELEASES}/tags/v1.0.0", json=release(5, "v1.0.0", "notes written by hand"))
    api.patch(f"{RELEASES}/5", json=release(5, "v1.0.0", created["body"]))

    again = build_command.build(str(shop / "vault.yml"), None, push=False)

    assert again.status == "unchanged"
    assert bodies(api, "POST", RELEASES) == []
    assert bodies(api, "PATCH", f"{RELEASES}/5") == [{"name": "v1.0.0", "body": created["body"]}]


def test_the_build_only_warns_when_github_refuses_the_release(
    shop: Path, api: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    api.get(f"{REPO}/commits", json=[listed_commit(git(shop, "rev-parse", "HEAD"),
                                                   "dev@example.com", None)])
    api.get(f"{RELEASES}/tags/v1.0.0", **not_found())
    api.post(RELEASES, status=403, json={"message": "Resource not accessible by integration"})

    outcome = build_command.build(str(shop / "vault.yml"), None, push=False)

    assert outcome.status == "built"
    out = capsys.readouterr().out
    assert "::warning title=GitHub API error::creating the release v1.0.0 in acme/shop: HTTP 403" in out
    assert "its GitHub Release was not written" in out


def test_the_prod_deploy_promotes_the_release(
    s3: Any, vault_bucket: str, tmp_path: Path, gha_env: GhaFiles,
    monkeypatch: pytest.MonkeyPatch, api: responses.RequestsMock,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    pipeline = make_pipeline(make_world(s3, vault_bucket, tmp_path))
    for env in ("dev", "qa", "uat"):
        pipeline.ledger.record("1.0.0", "deployed", env, CTX)
        pipeline.passed(env)
    pipeline.approve("prod", "boss")
    api.get(f"{REPO}/actions/runs/4242/approvals", json=[])
    api.post(f"{REPO}/deployments", status=201, json=deployment(9, "v1.0.0", "prod"))
    api.post(f"{REPO}/deployments/9/statuses", status=201, json=status(9, "success"))
    api.get(f"{RELEASES}/tags/v1.0.0", json=release(5, "v1.0.0", "notes"))
    api.patch(f"{RELEASES}/5", json=release(5, "v1.0.0", "notes", prerelease=False))

    assert pipeline.deploy("prod").ok

    assert bodies(api, "PATCH", f"{RELEASES}/5") == [{"prerelease": False, "make_latest": "true"}]


def test_conclude_writes_the_death_into_the_release_notes_once(
    tmp_path: Path, s3: Any, vault_bucket: str, gha_env: GhaFiles,
    monkeypatch: pytest.MonkeyPatch, api: responses.RequestsMock,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_test")
    doc = json.loads(json.dumps(GOOD))
    doc["vault"]["bucket"] = vault_bucket
    doc["ledger"] = {"allow-local": ["deployed", "smoke_failed"]}  # recorded from a terminal
    path = write(tmp_path, doc)
    book = Ledger(s3, vault_bucket)
    store_manifest(s3, vault_bucket, "1.0.0")
    book.record("1.0.0", "deployed", "qa", CTX)
    death = book.record("1.0.0", "smoke_failed", "qa", CTX, details={"reason": "GET /health: 500"})
    notice = (f"🪦 **Dead**: smoke_failed in qa at {death.when} by octocat (local) (GET /health: 500). "
              "This version is never promoted; see the next release.")
    api.get(f"{RELEASES}/tags/v1.0.0", json=release(5, "v1.0.0", "## What's changed"))
    api.patch(f"{RELEASES}/5", json=release(5, "v1.0.0", f"{notice}\n\n## What's changed"))

    result = conclude_command.conclude(str(path), "1.0.0", {"qa": {"result": "failure"}})

    assert result.data["state"] == "dead"
    assert bodies(api, "PATCH", f"{RELEASES}/5") == [{"body": f"{notice}\n\n## What's changed"}]

    api.replace(responses.GET, f"{RELEASES}/tags/v1.0.0",
                json=release(5, "v1.0.0", f"{notice}\n\n## What's changed"))
    conclude_command.conclude(str(path), "1.0.0", {"qa": {"result": "failure"}})

    assert len(bodies(api, "PATCH", f"{RELEASES}/5")) == 1
