"""``vault init``'s scaffold: caller workflows and a starter vault.yml for a repository.

The callers use the suite's reusable workflows pinned to one ref (the suite's version by
default), so a repository upgrades the whole pipeline by changing one ref in three files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vault_actions.errors import ConfigError

WORKFLOWS = ("release.yml", "dr-sync.yml", "gate.yml")
_SUITE = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
_REF = re.compile(r"[A-Za-z0-9._/-]+")
_ROLE_PREFIX = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]*")


@dataclass(frozen=True)
class Settings:
    """What the scaffold is filled in with."""

    suite: str
    ref: str
    branch: str
    config: str
    region: str
    dr_region: str
    bucket: str
    role_prefix: str
    gates: tuple[str, ...] = ("uat", "prod")

    def check(self) -> None:
        """Refuse values that would break the YAML or point at nothing."""
        checks = [
            ("--suite", self.suite, _SUITE, "OWNER/REPO of vault-actions"),
            ("--ref", self.ref, _REF, "a tag or SHA of the suite, e.g. v1.0.0"),
            ("--branch", self.branch, _REF, "the default branch, e.g. main"),
            ("--role-arn-prefix", self.role_prefix, _ROLE_PREFIX,
             "arn:aws:iam::<account>:role/<prefix> (the roles infra/vault.yaml creates)"),
        ]
        for flag, value, pattern, allowed in checks:
            if not pattern.fullmatch(value):
                raise ConfigError(f"{flag} {value!r} is not valid", f"use {allowed}")


def _template(name: str) -> str:
    return resources.files("vault_actions.setup").joinpath(f"templates/{name}").read_text()


def render(name: str, settings: Settings) -> str:
    """One template with the settings filled in."""
    values = {
        "__SUITE__": settings.suite,
        "__REF__": settings.ref,
        "__BRANCH__": settings.branch,
        "__CONFIG__": settings.config,
        "__REGION__": settings.region,
        "__DR_REGION__": settings.dr_region,
        "__BUCKET__": settings.bucket,
        "__ROLE_PREFIX__": settings.role_prefix,
        "__GATES__": ", ".join(settings.gates),
    }
    text = _template(name)
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def plan(root: Path, settings: Settings) -> dict[Path, str]:
    """Every file ``vault init`` writes, with its content."""
    settings.check()
    workflows = root / ".github/workflows"
    files = {workflows / name: render(name, settings) for name in WORKFLOWS}
    files[root / settings.config] = render("vault.yml", settings)
    return files


def write(files: dict[Path, str], *, force: bool) -> tuple[list[Path], list[Path]]:
    """Write the files; without ``force`` an existing file is kept. Returns (written, kept)."""
    written, kept = [], []
    for path, text in files.items():
        if path.exists() and not force:
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written, kept
