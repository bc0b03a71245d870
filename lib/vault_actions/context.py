"""Who and what is running: the GitHub actor and run in Actions, the local user else."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    """True when running inside a GitHub Actions job."""
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


@dataclass(frozen=True)
class RunContext:
    """Who and what is running: the GitHub actor and run in Actions, the local user else."""

    actor: str
    repository: str | None
    run_id: str | None
    run_url: str | None
    sha: str | None
    server_url: str
    api_url: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunContext:
        """Read the runner's default environment variables."""
        env = env if env is not None else os.environ
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY") or None
        run_id = env.get("GITHUB_RUN_ID") or None
        run_url = f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else None
        actor = env.get("GITHUB_ACTOR") if in_actions(env) else None
        return cls(
            actor=actor or _local_user(),
            repository=repo,
            run_id=run_id,
            run_url=run_url,
            sha=env.get("GITHUB_SHA") or None,
            server_url=server,
            api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


