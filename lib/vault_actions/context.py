"""Who and what is running: the GitHub actor and run in Actions, the local user else;
whether the run has been asked to stop (``Cancellation``).

``Runner`` is what a use case may tell the runner (a warning annotation, a secret to
mask): commands pass ``vault_actions.cli.gha``; the default only logs.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


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




class Cancellation:
    """A request to stop the run, made by SIGINT/SIGTERM (``cli.main`` installs the handlers).

    Work that can stop cleanly — a deploy's alias moves — runs inside ``watch()``: a signal
    then only sets the request, and the work stops starting updates, puts back what it
    changed and returns. Outside ``watch()`` a signal stops the process at once.
    """

    def __init__(self) -> None:
        self.signal: str | None = None
        self._event = threading.Event()
        self._watching = 0

    @property
    def requested(self) -> bool:
        """True once a signal arrived."""
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (at once) when a signal arrives."""
        return self._event.wait(seconds)

    def request(self, signal: str) -> bool:
        """Record ``signal`` (the first one counts); True when a ``watch()`` handles it."""
        if self.signal is None:
            self.signal = signal
        self._event.set()
        return self._watching > 0

    @contextlib.contextmanager
    def watch(self) -> Iterator[Cancellation]:
        """Within: a signal only sets ``requested``; the caller stops cleanly."""
        self._watching += 1
        try:
            yield self
        finally:
            self._watching -= 1


_current = Cancellation()


def cancellation() -> Cancellation:
    """This process's cancellation request (the one the signal handlers set)."""
    return _current


def reset_cancellation() -> Cancellation:
    """A fresh request for a new run of ``vault`` (tests run several in one process)."""
    global _current  # noqa: PLW0603 - one per process, like the signal handlers that set it
    _current = Cancellation()
    return _current
class Runner(Protocol):
    """The runner I/O a use case needs (``vault_actions.cli.gha`` is one)."""

    def warning(self, message: str, title: str = "") -> None:
        """Warn the person reading the run."""

    def mask(self, value: str) -> None:
        """Keep a secret out of the logs."""


class LoggingRunner:
    """A Runner outside Actions (the demo, tests): warnings are logged, nothing to mask."""

    def warning(self, message: str, title: str = "") -> None:
        """Log ``message`` as a warning."""
        log.warning("%s%s", f"{title}: " if title else "", message)

    def mask(self, value: str) -> None:
        """Nothing to mask outside Actions."""


LOGGED = LoggingRunner()
