"""One module per ``vault`` sub-command: ``configure(parser)`` and ``run(args) -> Result``.

Command modules import boto3 and PyGithub only inside ``run`` so that ``vault --help``
stays fast. A module that backs a GitHub Action also has ``run_action() -> int``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    """What a command returns: data for ``--json``, text for people, an exit code."""

    data: Any
    text: str
    exit_code: int = 0
