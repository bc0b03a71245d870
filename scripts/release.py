"""Release vault-actions itself: ``python scripts/release.py X.Y.Z [--push]`` on a clone.

The commit to release (``--commit``, default HEAD, with pyproject.toml's version X.Y.Z)
holds the actions. Its reusable workflows call them as ``<owner>/vault-actions/action-*@v1``,
a moving tag; so the release is a commit of its own on top of it, made without touching
the work tree, whose workflows call every action at that commit's full SHA (the version in
a comment). ``vX.Y.Z`` (annotated) points at the release commit and the major tag ``vX``
moves to it; ``--push`` sends both to ``--remote`` (the major tag by force: it moves).
A caller pinning a suite workflow (``vault-stage.yml@<release SHA>``) therefore runs
exactly that code.
Tooling, not part of the runtime package.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

WORKFLOW_DIRS = ("workflows-templates", ".github/workflows")
VERSION = re.compile(r"\d+\.\d+\.\d+")
ACTION_USE = re.compile(r"(uses:\s*)([\w.-]+/vault-actions)/(action-[\w-]+)@v\d+\b[^\n]*")


def git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
        ) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False,
                          input=stdin, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def pin(text: str, sha: str, version: str) -> str:
    """Every ``…/vault-actions/action-*@vN`` call pinned to ``sha`` (``# vX.Y.Z``)."""
    return ACTION_USE.sub(lambda m: f"{m.group(1)}{m.group(2)}/{m.group(3)}@{sha} # v{version}",
                          text)


def release_commit(repo: Path, source: str, version: str) -> str:
    """A commit on top of ``source`` whose workflows call the actions at ``source``."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(repo, "read-tree", source, env=env)
        files = git(repo, "ls-tree", "-r", "--name-only", source, "--", *WORKFLOW_DIRS)
        changed = 0
        for path in (p for p in files.splitlines() if p.endswith((".yml", ".yaml"))):
            text = git(repo, "show", f"{source}:{path}") + "\n"
            pinned = pin(text, source, version)
            if pinned != text:
                blob = git(repo, "hash-object", "-w", "--stdin", stdin=pinned)
                git(repo, "update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
                changed += 1
        if not changed:
            raise SystemExit(f"no action call to pin under {', '.join(WORKFLOW_DIRS)}")
        tree = git(repo, "write-tree", env=env)
    message = (f"Release v{version}: the reusable workflows call the actions at {source}\n\n"
               "Made by scripts/release.py; the work tree is unchanged.")
    return git(repo, "commit-tree", tree, "-p", source, "-m", message)


def release(repo: Path, version: str, *, commit: str = "HEAD", remote: str | None = None,
            ) -> str:
    """Tag ``v<version>`` and move ``v<major>``; the release commit's SHA."""
    if not VERSION.fullmatch(version):
        raise SystemExit(f"version {version!r} is not X.Y.Z")
    source = git(repo, "rev-parse", "--verify", f"{commit}^{{commit}}")
    project = tomllib.loads(git(repo, "show", f"{source}:pyproject.toml"))["project"]
    if project["version"] != version:
        raise SystemExit(f"pyproject.toml at {source[:12]} says {project['version']}, not "
                         f"{version}: bump it (and CHANGELOG.md) first")
    tag, major = f"v{version}", f"v{version.split('.', maxsplit=1)[0]}"
    if git(repo, "tag", "--list", tag):
        raise SystemExit(f"{tag} exists already: a release is never moved")
    released = release_commit(repo, source, version)
    git(repo, "tag", "-a", tag, released, "-m", f"vault-actions {tag}")
    git(repo, "tag", "-f", "-a", major, released, "-m", f"vault-actions {major} = {tag}")
    if remote:
        git(repo, "push", remote, f"refs/tags/{tag}")
        git(repo, "push", "--force", remote, f"refs/tags/{major}")
    return released


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("version", help="X.Y.Z (pyproject.toml's version)")
    parser.add_argument("--repo", default=".", help="the clone (default: .)")
    parser.add_argument("--commit", default="HEAD", help="what to release (default: HEAD)")
    parser.add_argument("--remote", default="origin", help="where --push sends the tags")
    parser.add_argument("--push", action="store_true", help="push vX.Y.Z and move vX there")
    args = parser.parse_args(argv)
    released = release(Path(args.repo), args.version, commit=args.commit,
                       remote=args.remote if args.push else None)
    print(f"v{args.version} → {released} (v{args.version.split('.')[0]} moved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
