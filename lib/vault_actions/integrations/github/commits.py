"""Who wrote a range of commits, as GitHub links their emails to accounts."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from vault_actions.integrations.github.client import call

if TYPE_CHECKING:
    from github import Github

PAGE_SIZE = 100


def commit_logins(gh: Github, repository: str, base: str | None, head: str) -> set[str]:
    """The GitHub logins of the authors and committers of the commits in ``base..head``
    (every commit reachable from ``head`` when ``base`` is None), as GitHub links them.

    Reads ``GET /repos/{repo}/compare/{base}...{head}`` (or ``/commits?sha=head``) page
    by page; a commit whose email is linked to no account has no login (``author: null``).
    """
    repo = gh.get_repo(repository)
    url = f"{repo.url}/compare/{base}...{head}" if base else f"{repo.url}/commits"
    extra = {} if base else {"sha": head}
    logins: set[str] = set()
    page = 1
    while True:
        parameters = {**extra, "per_page": PAGE_SIZE, "page": page}
        _, data = call(
            f"listing the commits of {base + '..' if base else ''}{head[:12]} in {repository}",
            partial(gh.requester.requestJsonAndCheck, "GET", url, parameters=parameters),
        )
        commits = (data or {}).get("commits", []) if base else (data or [])
        for commit in commits:
            logins.update(str(person["login"]) for person in
                          (commit.get("author"), commit.get("committer"))
                          if isinstance(person, dict) and person.get("login"))
        if len(commits) < PAGE_SIZE:
            return logins
        page += 1
