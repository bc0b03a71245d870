"""A small wrapper around the ``git`` binary: argv lists only, never a shell.

Every failure becomes a :class:`~vault_actions.errors.GitError` carrying git's stderr.
Revisions a caller passes in follow ``--end-of-options`` (or an ``--opt=value`` form), so
a value that starts with ``-`` is never read as an option.

Git runs after build commands, which may write into ``.git``: hooks and fsmonitor are
switched off on every call (``-c core.hooksPath=/dev/null -c core.fsmonitor=false``) and
git gets a scrubbed environment (:data:`GIT_ENVIRONMENT`), never the AWS session, the
GitHub token or action inputs; a push gets its credential from ``run(env=…)`` alone.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vault_actions.errors import GitError

log = logging.getLogger(__name__)

CHECKOUT_HINT = (
    "check that the folder is a git checkout with at least one commit, its full history "
    "and its tags (actions/checkout with fetch-depth: 0)"
)
# What git is handed of our environment: locale, identity, proxies, an ssh agent.
GIT_ENVIRONMENT = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "XDG_CONFIG_HOME",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "SSH_AUTH_SOCK", "GIT_SSH_COMMAND",
    "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
})
_SAFE = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")
IDENTITY_HINT = (
    "set user.name and user.email (git config, or GIT_COMMITTER_NAME and "
    "GIT_COMMITTER_EMAIL) before tagging"
)


@dataclass(frozen=True)
class Commit:
    """One commit: its full sha and its raw message (subject, body and footers)."""

    sha: str
    message: str


@dataclass(frozen=True)
class Authored:
    """Who wrote one commit and when it was committed (ISO-8601 with offset)."""

    sha: str
    author: str
    email: str
    committed_at: str


@dataclass(frozen=True)
class Tag:
    """One tag and the sha of the commit it points at (annotated tags are peeled)."""

    name: str
    commit: str


def run(
    args: Sequence[str],
    cwd: Path | str,
    *,
    hint: str = CHECKOUT_HINT,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``git *args`` in ``cwd`` and return its stdout (UTF-8, undecodable bytes replaced).

    Raises GitError naming the command and the folder, with git's stderr and ``hint``.
    Git never prompts for credentials here (``GIT_TERMINAL_PROMPT=0``), runs no hooks, and
    sees only :func:`environment`; ``env`` adds variables (e.g. ``GIT_CONFIG_*`` for a
    credential that must not appear in argv).
    """
    shown = shlex.join(["git", *args])
    if not Path(cwd).is_dir():
        raise GitError(f"cannot run {shown}: {str(cwd)!r} is not a directory", hint)
    log.debug("%s (in %s)", shown, cwd)
    try:
        done = subprocess.run(
            ["git", *_SAFE, *args],
            cwd=cwd,
            env={**environment(), **(env or {}), "GIT_TERMINAL_PROMPT": "0"},
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise GitError("the git program was not found", "install git and put it on PATH") from None
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit code {done.returncode}"
        raise GitError(f"{shown} failed in {cwd}: {detail}", hint)
    return done.stdout


def environment() -> dict[str, str]:
    """Our environment as git sees it: :data:`GIT_ENVIRONMENT` and the ``LC_*`` locale."""
    return {
        key: value for key, value in os.environ.items()
        if key in GIT_ENVIRONMENT or key.startswith("LC_")
    }


def commits(repo: Path | str, revision: str) -> list[Commit]:
    """The commits ``git log <revision>`` lists (e.g. ``v1.2.3..HEAD``), in one git call.

    Merge commits and the commits they bring in are listed, as plain ``git log`` does.
    The order is ``--topo-order``: every commit comes before its parents (newest first).
    Records are NUL-terminated (``-z``), and a commit message can never contain NUL.
    """
    out = run(
        [
            "log",
            "-z",
            "--topo-order",
            "--no-show-signature",
            "--encoding=UTF-8",
            "--format=%H%n%B",
            "--end-of-options",
            revision,
        ],
        repo,
    )
    found = []
    for record in out.split("\0"):
        if record:
            sha, _, message = record.partition("\n")
            found.append(Commit(sha, message))
    return found


def authored(repo: Path | str, revision: str) -> list[Authored]:
    """Author and commit time of each commit ``git log <revision>`` lists, newest first."""
    out = run(
        ["log", "-z", "--topo-order", "--format=%H%x1f%an%x1f%ae%x1f%cI", "--end-of-options",
         revision],
        repo,
    )
    return [Authored(*record.strip("\n").split("\x1f")) for record in out.split("\0") if record]


def people(repo: Path | str, revision: str) -> set[str]:
    """The author and committer emails of the commits ``git log <revision>`` lists."""
    out = run(["log", "-z", "--format=%ae%x00%ce", "--end-of-options", revision], repo)
    return {email for email in out.split("\0") if email.strip()}


def tags(repo: Path | str, merged_into: str = "HEAD") -> list[Tag]:
    """Every tag reachable from ``merged_into`` (``git tag --merged``), in one git call."""
    out = run(
        [
            "tag",
            "--list",
            f"--merged={merged_into}",
            "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)",
        ],
        repo,
    )
    found = []
    for line in out.splitlines():
        name, target, peeled = line.split("\0")
        found.append(Tag(name, peeled or target))
    return found


def head_sha(repo: Path | str) -> str:
    """The full sha of the commit HEAD points at."""
    return run(["rev-parse", "--verify", "HEAD^{commit}"], repo).strip()


def tags_at(repo: Path | str, rev: str = "HEAD") -> list[str]:
    """Names of the tags that point at ``rev`` (annotated tags are peeled), sorted."""
    return sorted(run(["tag", "--list", f"--points-at={rev}"], repo).split())


def create_annotated_tag(repo: Path | str, tag: str, message: str) -> None:
    """Create annotated tag ``tag`` at HEAD; GitError when it exists or no identity is set."""
    run(
        ["tag", "--annotate", f"--message={message}", "--end-of-options", tag],
        repo,
        hint=f"{IDENTITY_HINT}; a tag that already exists is never moved",
    )


def push_tag(
    repo: Path | str, tag: str, remote: str = "origin", token: str | None = None
) -> None:
    """Push one tag to ``remote``; never force, so an existing remote tag is an error.

    With ``token`` (a GitHub token, when the checkout did not persist credentials) git
    authenticates with an HTTP header passed through the environment, never argv.
    """
    run(
        ["push", "--", remote, f"refs/tags/{tag}:refs/tags/{tag}"],
        repo,
        env=_auth_env(token) if token else None,
        hint=f"check that remote {remote!r} exists and that the token may push tags "
        "(permissions: contents: write); a tag that already exists is never moved",
    )


def remote_tag_commit(url: str, tag: str, cwd: Path | str = ".") -> str | None:
    """The commit ``tag`` names in the repository at ``url`` (peeled), or None."""
    out = run(["ls-remote", "--tags", url, f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"], cwd,
              hint=f"check that {url} is reachable and has the tag {tag}")
    refs: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        refs[ref] = sha
    return refs.get(f"refs/tags/{tag}^{{}}") or refs.get(f"refs/tags/{tag}")


def is_clean(repo: Path | str) -> bool:
    """True when the work tree has no staged, modified or untracked (non-ignored) files."""
    return not changes(repo)


def changes(repo: Path | str) -> list[str]:
    """What makes the work tree dirty, as ``git status --porcelain`` lines (``?? new.txt``,
    `` M src/app.py``): staged, modified and untracked files that are not ignored."""
    out = run(["status", "--porcelain=v1", "-z", "--untracked-files=all"], repo)
    fields = iter(out.split("\0"))
    found = []
    for entry in fields:
        if entry:
            found.append(entry)
            if entry[0] in "RC":  # a rename or copy: the next field is the old path
                next(fields, None)
    return found


def current_user(repo: Path | str) -> str:
    """The identity git records as committer and tagger: ``Name <email>``."""
    ident = run(["var", "GIT_COMMITTER_IDENT"], repo, hint=IDENTITY_HINT).strip()
    return ident.rsplit(" ", 2)[0]


_REMOTE = re.compile(r"(?:[:/])(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def origin_repository(repo: Path | str) -> str | None:
    """``OWNER/REPO`` of the ``origin`` remote (None: no such remote, or not a repository)."""
    try:
        url = run(["remote", "get-url", "origin"], repo).strip()
    except GitError:
        return None
    found = _REMOTE.search(url)
    return found["repo"] if found else None


def _auth_env(token: str) -> dict[str, str]:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }
