"""Release versioning from Conventional Commits, on real git repositories."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vault_actions import cli
from vault_actions.build.version import VersionPlan, classify, next_version
from vault_actions.errors import GitError, VersionError
from vault_actions.integrations import git
from vault_actions.store.manifest import validate_version

IDENTITY = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


class Repo:
    """A real git repository under tmp_path, driven with the real git binary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def commit(self, message: str, change: str | None = None) -> str:
        """Commit ``message`` (empty, or writing ``change`` so it can be reverted); its sha."""
        if change is not None:
            (self.path / change).write_text(message)
            self.git("add", change)
        self.git("commit", "-q", "--allow-empty", "--cleanup=verbatim", "-m", message)
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, rev: str = "HEAD", annotated: bool = False) -> None:
        self.git("tag", *(["-a", "-m", f"release {name}"] if annotated else []), name, rev)

    def plan(self) -> VersionPlan:
        return next_version(self.path)


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git identity, and no user or system git config, for the tests and the code."""
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)


@pytest.fixture
def repo(tmp_path: Path, isolated_git: None) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def released(repo: Repo) -> Repo:
    """A repository whose last release is v1.2.3."""
    repo.commit("feat: first")
    repo.tag("v1.2.3")
    return repo


def bumps(plan: VersionPlan) -> list[str | None]:
    return [c.bump for c in plan.commits]


# --- one commit's header and body ---------------------------------------------------

MESSAGES = [
    # types: feat → minor, fix and perf → patch, any other type → nothing
    ("feat: add export", "minor"),
    ("fix: handle empty cart", "patch"),
    ("perf: cache prices", "patch"),
    ("feat(api): add export", "minor"),
    ("fix(core-db): retry", "patch"),
    ("chore: bump deps", None),
    ("docs: explain setup", None),
    ("refactor(core): split module", None),
    ("style: format", None),
    ("test: cover cart", None),
    ("build: pin pip", None),
    ("ci: cache wheels", None),
    ("revert: feat: add export", None),
    # types are case-insensitive
    ("FEAT: add export", "minor"),
    ("Fix(core): retry", "patch"),
    ("PERF: cache", "patch"),
    # breaking: "!" right before the colon, any type
    ("feat!: drop v1 API", "major"),
    ("fix(api)!: change status codes", "major"),
    ("chore!: drop Python 3.10", "major"),
    # breaking: a body or footer line starting exactly "BREAKING CHANGE: " / "BREAKING-CHANGE: "
    ("feat: new auth\n\nBREAKING CHANGE: tokens expire", "major"),
    ("chore: rename\n\nBREAKING-CHANGE: env var renamed", "major"),
    ("fix: x\n\nA body paragraph.\n\nBREAKING CHANGE: y\nRefs: #12", "major"),
    ("docs: x\nBREAKING CHANGE: no blank line before it", "major"),
    # not breaking: near misses of the footer
    ("feat: x\n\nBREAKING CHANGES: y", "minor"),
    ("fix: x\n\nbreaking change: y", "patch"),
    ("fix: x\n\nBreaking Change: y", "patch"),
    ("fix: x\n\nBREAKING CHANGE y", "patch"),
    ("chore: x\n\nBREAKING CHANGE", None),
    ("fix: x\n\nBREAKING CHANGE:y", "patch"),
    ("fix: x\n\n  BREAKING CHANGE: indented", "patch"),
    ("fix: x\n\n* BREAKING CHANGE: in a list", "patch"),
    # not conventional: releases nothing, even with a breaking footer
    ("feat:missing space", None),
    ("feat : space before colon", None),
    ("feat add export", None),
    ("feat!(api): bang before scope", None),
    ("feat(): empty scope", None),
    (": no type", None),
    ("feat:  ", None),
    ("WIP feat: add export", None),
    ("Add export", None),
    ("update things\n\nBREAKING CHANGE: y", None),
    ("BREAKING CHANGE: as a header", None),
    # the header decides: a squashed body is not split into commits
    ("chore: squash #12\n\n* feat: a\n* fix: b", None),
    ("fix: squash #13\n\n* feat: a\n* feat!: b", "patch"),
    ("docs: squash #14\n\n* feat: a\n\nBREAKING CHANGE: from the squashed footer", "major"),
]


@pytest.mark.parametrize(("message", "bump"), MESSAGES)
def test_one_commit(released: Repo, message: str, bump: str | None) -> None:
    sha = released.commit(message)
    plan = released.plan()
    assert plan.commits[0].sha == sha
    assert plan.commits[0].subject == message.partition("\n")[0].rstrip()
    assert plan.bump == bump
    expected = {"major": "2.0.0", "minor": "1.3.0", "patch": "1.2.4", None: None}[bump]
    assert plan.next == expected
    assert plan.tag == (f"v{expected}" if expected else None)
    assert plan.current == "1.2.3"


def test_highest_bump_wins(released: Repo) -> None:
    released.commit("fix: a")
    released.commit("feat: b")
    released.commit("chore: c")
    plan = released.plan()
    assert (plan.bump, plan.next) == ("minor", "1.3.0")
    assert bumps(plan) == [None, "minor", "patch"]


def test_breaking_outranks_everything(released: Repo) -> None:
    released.commit("feat: a")
    released.commit("fix!: b")
    released.commit("fix: c")
    assert (released.plan().bump, released.plan().next) == ("major", "2.0.0")


def test_history_starts_after_the_base_tag(released: Repo) -> None:
    released.commit("fix: after")
    plan = released.plan()
    assert [c.subject for c in plan.commits] == ["fix: after"]
    assert plan.next == "1.2.4"


# --- first release and 0.x ------------------------------------------------------------


def test_no_tag_and_nothing_releasable(repo: Repo) -> None:
    repo.commit("chore: init")
    repo.commit("docs: readme")
    plan = repo.plan()
    assert plan.to_json() == {
        "current": None,
        "next": None,
        "bump": None,
        "tag": None,
        "commits": [
            {"sha": plan.commits[0].sha, "subject": "docs: readme", "bump": None},
            {"sha": plan.commits[1].sha, "subject": "chore: init", "bump": None},
        ],
    }


@pytest.mark.parametrize(("message", "bump"), [("fix: a", "patch"), ("feat!: a", "major")])
def test_no_tag_any_releasable_commit_gives_1_0_0(repo: Repo, message: str, bump: str) -> None:
    repo.commit("chore: init")
    repo.commit(message)
    plan = repo.plan()
    assert (plan.current, plan.next, plan.tag, plan.bump) == (None, "1.0.0", "v1.0.0", bump)


@pytest.mark.parametrize(
    ("message", "expected"),
    [("fix: a", "0.3.2"), ("feat: a", "0.4.0"), ("feat!: a", "1.0.0"), ("chore!: a", "1.0.0")],
)
def test_no_special_case_below_1_0_0(repo: Repo, message: str, expected: str) -> None:
    repo.commit("feat: early")
    repo.tag("v0.3.1")
    repo.commit(message)
    assert repo.plan().next == expected


# --- reverts ----------------------------------------------------------------------------


def test_revert_of_a_released_commit_is_a_patch(repo: Repo) -> None:
    repo.commit("feat: risky", change="risky.txt")
    repo.tag("v1.0.0")
    repo.git("revert", "--no-edit", "HEAD")
    plan = repo.plan()
    assert plan.commits[0].subject == 'Revert "feat: risky"'
    assert (plan.bump, plan.next) == ("patch", "1.0.1")


def test_revert_and_reverted_in_range_cancel_out(released: Repo) -> None:
    released.commit("feat: risky", change="risky.txt")
    released.commit("chore: tidy")
    released.git("revert", "--no-edit", "HEAD~1")
    plan = released.plan()
    assert bumps(plan) == [None, None, None]
    assert (plan.current, plan.next, plan.bump, plan.tag) == ("1.2.3", None, None, None)


def test_cancelled_pair_leaves_other_commits(released: Repo) -> None:
    released.commit("fix: small")
    released.commit("feat!: risky", change="risky.txt")
    released.git("revert", "--no-edit", "HEAD")
    plan = released.plan()
    assert bumps(plan) == [None, None, "patch"]
    assert plan.next == "1.2.4"


def test_revert_matches_an_abbreviated_sha(released: Repo) -> None:
    sha = released.commit("feat: risky")
    released.commit(f'Revert "feat: risky"\n\nThis reverts commit {sha[:7]}.')
    assert bumps(released.plan()) == [None, None]


def test_revert_of_a_merge_names_the_sha_with_a_comma(released: Repo) -> None:
    sha = released.commit("feat: merged feature")
    message = f'Revert "Merge feature"\n\nThis reverts commit {sha}, reversing\nchanges made.'
    released.commit(message)
    assert bumps(released.plan()) == [None, None]


def test_revert_of_a_revert_reinstates_the_original(released: Repo) -> None:
    released.commit("feat: risky", change="risky.txt")
    released.git("revert", "--no-edit", "HEAD")
    released.git("revert", "--no-edit", "HEAD")
    plan = released.plan()
    assert plan.commits[0].subject == 'Revert "Revert "feat: risky""'
    assert bumps(plan) == [None, None, "minor"]
    assert plan.next == "1.3.0"


@pytest.mark.parametrize(
    "template",
    [
        'Revert "feat: risky"',  # no "This reverts commit" line
        "fix: undo risky\n\nThis reverts commit {sha}.",  # not a git revert: a fix
        'Revert "feat: risky"\n\nThis reverts commit {sha}',  # no final period
    ],
)
def test_only_git_reverts_cancel(released: Repo, template: str) -> None:
    sha = released.commit("feat: risky")
    released.commit(template.format(sha=sha))
    plan = released.plan()
    assert plan.commits[1].bump == "minor"
    expected = "patch" if template.startswith("fix") else None
    assert plan.commits[0].bump == expected


def test_ambiguous_abbreviated_sha_cancels_nothing() -> None:
    revert = git.Commit("abcd" + "1" * 36, 'Revert "feat: x"\n\nThis reverts commit abcd.')
    first = git.Commit("abcd" + "2" * 36, "feat: x")
    second = git.Commit("abcd" + "3" * 36, "feat: y")
    assert [c.bump for c in classify([revert, first, second])] == ["patch", "minor", "minor"]


# --- which tags count --------------------------------------------------------------------


@pytest.mark.parametrize("annotated", [False, True])
def test_lightweight_and_annotated_tags(repo: Repo, annotated: bool) -> None:
    repo.commit("feat: a")
    repo.tag("v2.4.6", annotated=annotated)
    repo.commit("fix: b")
    assert (repo.plan().current, repo.plan().next) == ("2.4.6", "2.4.7")


@pytest.mark.parametrize("name", ["1.2.3", "release-1", "v1.2", "v01.2.3", "V9.9.9", "vfoo"])
def test_only_v_prefixed_semver_tags_count(repo: Repo, name: str) -> None:
    repo.commit("feat: a")
    repo.tag("v1.0.0")
    repo.commit("fix: b")
    repo.tag(name)
    repo.commit("fix: c")
    plan = repo.plan()
    assert (plan.current, plan.next, len(plan.commits)) == ("1.0.0", "1.0.1", 2)


def test_unprefixed_semver_tags_log_a_warning(repo: Repo, caplog: pytest.LogCaptureFixture) -> None:
    repo.commit("feat: a")
    repo.tag("1.2.3")
    repo.tag("release-1")
    with caplog.at_level(logging.WARNING, logger="vault_actions.build.version"):
        plan = repo.plan()
    assert (plan.current, plan.next) == (None, "1.0.0")
    [record] = caplog.records
    assert "1.2.3" in record.getMessage()
    assert "v1.2.3" in record.getMessage()
    assert "release-1" not in record.getMessage()


def test_no_warning_without_unprefixed_semver_tags(
    released: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    released.tag("release-1")
    with caplog.at_level(logging.WARNING, logger="vault_actions.build.version"):
        released.plan()
    assert caplog.records == []


def test_prerelease_tags_are_never_the_base(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.0.0")
    repo.commit("feat: b")
    repo.tag("v2.0.0-rc.1")
    repo.commit("fix: c")
    plan = repo.plan()
    assert (plan.current, plan.next, len(plan.commits)) == ("1.0.0", "1.1.0", 2)


def test_prerelease_tag_on_head_does_not_stop_the_release(released: Repo) -> None:
    released.commit("feat!: b")
    released.tag("v2.0.0-rc.1")
    assert (released.plan().next, released.plan().tag) == ("2.0.0", "v2.0.0")


def test_build_metadata_tag_counts_as_its_version(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.2.0+build.5")
    repo.commit("feat: b")
    assert (repo.plan().current, repo.plan().next) == ("1.2.0+build.5", "1.3.0")


def test_highest_version_wins_not_newest_tag(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.10.0")
    repo.commit("fix: b")
    repo.tag("v1.9.0")
    repo.commit("fix: c")
    plan = repo.plan()
    assert (plan.current, plan.next) == ("1.10.0", "1.10.1")
    assert [c.subject for c in plan.commits] == ["fix: c", "fix: b"]


def test_only_tags_reachable_from_head(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.0.0")
    repo.git("switch", "-q", "-c", "experiment")
    repo.commit("feat!: experiment")
    repo.tag("v5.0.0")
    repo.git("switch", "-q", "main")
    repo.commit("fix: b")
    plan = repo.plan()
    assert (plan.current, plan.next) == ("1.0.0", "1.0.1")


def test_head_already_tagged_means_nothing_to_release(released: Repo) -> None:
    released.commit("feat: b")
    released.tag("v1.3.0", annotated=True)
    plan = released.plan()
    assert plan == VersionPlan("1.3.0", None, None, None, ())


def test_rerun_after_tagging_never_makes_a_second_tag(released: Repo) -> None:
    released.commit("fix: b")
    first = released.plan()
    assert first.tag is not None
    released.tag(first.tag)
    again = released.plan()
    assert (again.current, again.next, again.tag) == (first.next, None, None)


def test_head_carrying_a_lower_release_tag_is_released(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v2.0.0")
    repo.commit("fix: b")
    repo.tag("v1.5.0")
    plan = repo.plan()
    assert (plan.current, plan.next, plan.commits) == ("1.5.0", None, ())


# --- merges and ordering -----------------------------------------------------------------


def test_merge_commits_are_listed_like_git_log(released: Repo) -> None:
    released.git("switch", "-q", "-c", "feature")
    released.commit("feat: from the branch")
    released.git("switch", "-q", "main")
    released.commit("docs: meanwhile")
    released.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature'", "feature")
    plan = released.plan()
    assert plan.commits[0].subject == "Merge branch 'feature'"
    assert sorted(c.subject for c in plan.commits[1:]) == [
        "docs: meanwhile",
        "feat: from the branch",
    ]
    assert (plan.bump, plan.next) == ("minor", "1.3.0")


def test_one_git_log_and_one_git_tag_call(released: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(30):
        released.commit(f"fix: change {n}")
    calls: list[list[str]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        calls.append(argv)
        return real_run(argv, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    plan = released.plan()
    assert len(plan.commits) == 30
    assert [argv[5] for argv in calls] == ["tag", "log"]  # after the four -c hardening args


# --- hostile input -----------------------------------------------------------------------


def test_not_a_git_repo(tmp_path: Path, isolated_git: None) -> None:
    with pytest.raises(GitError) as caught:
        next_version(tmp_path)
    assert "not a git repository" in caught.value.message
    assert str(tmp_path) in caught.value.message
    assert caught.value.hint is not None
    assert "fetch-depth: 0" in caught.value.hint


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="is not a directory"):
        next_version(tmp_path / "nope")


def test_repo_without_commits(repo: Repo) -> None:
    with pytest.raises(GitError, match="HEAD"):
        repo.plan()


def test_hostile_messages_are_plain_data(released: Repo, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    subjects = [
        f"fix: $(touch {pwned})",
        f"fix: `touch {pwned}`; touch {pwned} && echo %x00 \\",
        "chore: --format=%H -z --all",
    ]
    released.commit(f"{subjects[0]}\n\nbody\x1eafter a record separator")
    released.commit(f"{subjects[1]}\n\n$(rm -rf /)\nThis reverts commit 0000.")
    released.commit(subjects[2])
    plan = released.plan()
    assert [c.subject for c in plan.commits] == subjects[::-1]
    assert bumps(plan) == [None, "patch", "patch"]
    assert not pwned.exists()


def test_record_separator_in_a_body_does_not_split_commits(released: Repo) -> None:
    released.commit("chore: a\n\nx\x1e\nBREAKING CHANGE: y")
    released.commit("docs: b\n\nx\x1eBREAKING CHANGE: inside a line")
    plan = released.plan()
    assert [c.subject for c in plan.commits] == ["docs: b", "chore: a"]
    assert bumps(plan) == [None, "major"]


# --- --version overrides ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1.2.3", "1.2.3"), ("v1.2.3", "1.2.3"), ("0.0.1", "0.0.1"), ("v2.0.0-rc.1", "2.0.0-rc.1")],
)
def test_validate_version_accepts(value: str, expected: str) -> None:
    assert validate_version(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "$(rm -rf /)",
        "`id`",
        "1.2.3; rm -rf /",
        "1.2.3 && id",
        "1.2.3\n",
        "1.2.3\nfoo",
        " 1.2.3",
        "-1.2.3",
        "--help",
        "../1.2.3",
        "1.2.3/../../x",
        "1.2",
        "1.2.3.4",
        "V1.2.3",
        "vv1.2.3",
        "01.2.3",
        "1.2.3+build.1",
        "١.٢.٣",
        "",
    ],
)
def test_validate_version_refuses(value: str) -> None:
    with pytest.raises(VersionError) as caught:
        validate_version(value)
    assert repr(value) in caught.value.message
    assert caught.value.hint is not None
    assert "1.2.3" in caught.value.hint
    assert "v1.2.3" in caught.value.hint


# --- vault version -------------------------------------------------------------------------


def test_cli_json(released: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    sha = released.commit("feat: add export")
    assert cli.main(["version", "--repo", str(released.path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "current": "1.2.3",
        "next": "1.3.0",
        "bump": "minor",
        "tag": "v1.3.0",
        "commits": [{"sha": sha, "subject": "feat: add export", "bump": "minor"}],
    }


def test_cli_text(released: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    sha = released.commit("fix: a")
    released.commit("chore: b")
    assert cli.main(["version", "--repo", str(released.path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "v1.2.3 → v1.2.4 (patch)"
    assert lines[2] == f"  patch  {sha[:10]}  fix: a"
    assert lines[1].startswith("  -    ")


@pytest.mark.parametrize(
    ("setup", "first_line"),
    [
        (lambda r: r.commit("chore: b"), "nothing to release: no feat, fix, perf or breaking"),
        (lambda r: None, "nothing to release: HEAD is already v1.2.3"),
    ],
)
def test_cli_text_nothing_to_release(
    released: Repo, capsys: pytest.CaptureFixture[str], setup: Any, first_line: str
) -> None:
    setup(released)
    assert cli.main(["version", "--repo", str(released.path)]) == 0
    assert capsys.readouterr().out.startswith(first_line)


def test_cli_first_release_text(repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.commit("feat: a")
    assert cli.main(["version", "--repo", str(repo.path)]) == 0
    assert capsys.readouterr().out.startswith(
        "first release → v1.0.0 (no release tag yet: the first one is 1.0.0)\n"
    )


def test_cli_not_a_repo(
    tmp_path: Path, isolated_git: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["version", "--repo", str(tmp_path), "--json"]) == 5  # GitError: infrastructure
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "GitError"
    assert "not a git repository" in error["message"]


def test_vault_version_does_not_import_boto3_or_github(released: Repo) -> None:
    released.commit("fix: a")
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "vault_actions",
            "version",
            "--json",
            "--repo",
            str(released.path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["next"] == "1.2.4"
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "vault_actions.build.version" in imported
    assert not imported & {"boto3", "botocore", "github"}


# --- git helpers the build uses ------------------------------------------------------------


def test_head_sha_and_tags_at(repo: Repo) -> None:
    sha = repo.commit("feat: a")
    repo.tag("v1.0.0", annotated=True)
    repo.tag("latest")
    repo.commit("fix: b")
    assert git.head_sha(repo.path) == repo.git("rev-parse", "HEAD")
    assert git.tags_at(repo.path, sha) == ["latest", "v1.0.0"]
    assert git.tags_at(repo.path) == []


def test_create_annotated_tag_never_moves_a_tag(repo: Repo) -> None:
    repo.commit("feat: a")
    git.create_annotated_tag(repo.path, "v1.0.0", "release v1.0.0\n\n$(id)")
    assert repo.git("cat-file", "-t", "v1.0.0") == "tag"
    assert repo.git("tag", "-l", "--format=%(contents)", "v1.0.0") == "release v1.0.0\n\n$(id)"
    repo.commit("fix: b")
    with pytest.raises(GitError, match="already exists") as caught:
        git.create_annotated_tag(repo.path, "v1.0.0", "again")
    assert caught.value.hint is not None
    assert "never moved" in caught.value.hint


def test_tag_names_are_never_options(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.0.0")
    with pytest.raises(GitError):
        git.create_annotated_tag(repo.path, "--delete", "v1.0.0")
    assert repo.git("tag") == "v1.0.0"


def test_create_annotated_tag_without_identity(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("feat: a")
    for key in IDENTITY:
        monkeypatch.delenv(key)
    monkeypatch.setenv("EMAIL", "")
    repo.git("config", "user.useConfigOnly", "true")
    with pytest.raises(GitError) as caught:
        git.create_annotated_tag(repo.path, "v1.0.0", "release")
    assert caught.value.hint is not None
    assert "user.email" in caught.value.hint


def test_push_tag_to_a_remote(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    repo.commit("feat: a")
    git.create_annotated_tag(repo.path, "v1.0.0", "release")
    git.push_tag(repo.path, "v1.0.0")
    assert "refs/tags/v1.0.0" in repo.git("ls-remote", "--tags", "origin")
    repo.git("tag", "-d", "v1.0.0")
    repo.commit("fix: b")
    git.create_annotated_tag(repo.path, "v1.0.0", "moved")
    with pytest.raises(GitError, match="already exists") as caught:
        git.push_tag(repo.path, "v1.0.0")
    assert caught.value.hint is not None
    assert "contents: write" in caught.value.hint


def test_push_tag_to_a_missing_remote(repo: Repo) -> None:
    repo.commit("feat: a")
    repo.tag("v1.0.0")
    with pytest.raises(GitError, match="origin"):
        git.push_tag(repo.path, "v1.0.0")


def test_is_clean(repo: Repo) -> None:
    repo.commit("feat: a", change="a.txt")
    assert git.is_clean(repo.path)
    (repo.path / "stray.txt").write_text("x")
    assert not git.is_clean(repo.path)


def test_current_user(repo: Repo) -> None:
    assert git.current_user(repo.path) == "Dev <dev@example.com>"


def test_git_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitError, match="git program was not found"):
        git.run(["status"], tmp_path)
