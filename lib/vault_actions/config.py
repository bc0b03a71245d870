"""``vault.yml``: load, validate against the shipped JSON Schema, and freeze.

One piece (over 400 lines): the schema check, the rules across keys that JSON Schema
cannot express, and the frozen dataclasses all describe the one file; its error messages
name keys the same way throughout.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from vault_actions.errors import ConfigError
from vault_actions.text import plural

DEFAULT_CONFIG = "vault.yml"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
# What `vault init` writes where it cannot know the answer; `vault validate` refuses them.
PLACEHOLDER = "REPLACE-ME"
PLACEHOLDER_LOGINS = frozenset({"your-qa-lead", "your-manager"})
_TO_FILL = {
    "bucket": "the name of the bucket (infra/vault.yaml creates it)",
    "approvers": "the GitHub login of someone who may approve",
    "teams": "a GitHub team (ORG/SLUG) whose members may approve",
    "build": "the command that fills the dist folder with the Lambda's code",
    "base-url": "the URL this environment serves (or remove smoke:)",
    "command": "your smoke-test command (or remove it)",
}
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
SUITE = "vault-actions/vault-actions"
# The suite's reusable workflow each kind of ledger writer runs (see workflows-templates/):
# the Factory (build + publish), one environment's deploy + smoke, the record stage, the
# gate fallback, the DR sync, the emergency rollback.
SUITE_WORKFLOWS = {"build": "vault-build.yml", "stage": "vault-stage.yml",
                   "record": "vault-record.yml", "gate": "vault-gate.yml",
                   "dr-sync": "vault-dr-sync.yml", "rollback": "vault-rollback.yml"}
# The one rule for service and environment names (the ledger checks events with it too).
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
NAME_RULE = "lowercase letters, digits and '-', at most 64, starting with a letter or digit"
# Variables a build command is never handed, even when vault.yml names them in build-env.
FORBIDDEN_BUILD_ENV = re.compile(
    r"(AWS_|ACTIONS_|INPUT_|RUNNER_|GITHUB_).*|.*(TOKEN|SECRET|PASSWORD).*"
)
# Jobs without a GitHub environment: their IAM roles (<prefix>-build, <prefix>-gate) and
# ledger folders (ledger/vX/build/, ledger/vX/gate/) are named like environments' ones.
BUILD_JOB = "build"
GATE_JOB = "gate"
# The claims of the repository's OIDC subject (`vault setup-environments` sets them): the
# IAM roles of infra/vault.yaml pin all three, so each trusts one job of one workflow.
OIDC_SUBJECT_CLAIMS = ("repo", "context", "job_workflow_ref")


@dataclass(frozen=True)
class Service:
    """One Lambda service: where it lives, how it builds, which folder ships."""

    name: str
    path: Path
    build: str | None = None
    dist: str = "dist"
    allow: tuple[str, ...] = ()
    max_size: int | None = None
    build_env: tuple[str, ...] = ()

    @property
    def dist_dir(self) -> Path:
        """Absolute folder whose contents become the release zip."""
        return self.path / self.dist


@dataclass(frozen=True)
class Check:
    """One declarative HTTP smoke check."""

    path: str
    name: str = ""
    method: str = "GET"
    status: int = 200
    json: dict[str, Any] = field(default_factory=dict)
    body_contains: str | None = None
    max_latency_ms: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    @property
    def label(self) -> str:
        """The check's name, or ``METHOD path``."""
        return self.name or f"{self.method} {self.path}"


@dataclass(frozen=True)
class Smoke:
    """An environment's smoke settings: HTTP checks and/or the team's own command."""

    base_url: str | None = None
    checks: tuple[Check, ...] = ()
    command: str | None = None
    timeout_seconds: float = 120.0
    retry_interval_seconds: float = 2.0


@dataclass(frozen=True)
class Gate:
    """An approval gate: who may approve (empty: anyone the GitHub environment allows)."""

    approvers: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    allow_author_approval: bool = False


ALL_AT_ONCE = "all-at-once"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Rollout:
    """How traffic moves to a new release: at once, or in weighted steps watched by alarms.

    ``weights`` are the percentages of traffic on the new version, step by step (100 last);
    ``step_seconds`` is how long each step below 100 is held and watched.
    """

    strategy: str = ALL_AT_ONCE
    percent: int = 10
    step_seconds: float = 0.0
    poll_seconds: float = 10.0
    alarms: tuple[str, ...] = ()
    smoke_each_step: bool = False
    pre_traffic: bool = False

    @property
    def gradual(self) -> bool:
        """True for canary and linear: traffic shifts through weighted steps."""
        return self.strategy != ALL_AT_ONCE

    @property
    def weights(self) -> tuple[int, ...]:
        """``(10, 100)`` for a 10% canary, ``(25, 50, 75, 100)`` for a 25% linear."""
        if self.strategy == "canary":
            return (self.percent, 100)
        if self.strategy == "linear":
            return (*range(self.percent, 100, self.percent), 100)
        return (100,)

    def describe(self) -> str:
        """``canary 10% for 5 min`` / ``linear 25% every 1 min`` / ``all-at-once``."""
        minutes = f"{self.step_seconds / 60:g} min"
        if self.strategy == "canary":
            return f"canary {self.percent}% for {minutes}"
        if self.strategy == "linear":
            return f"linear {self.percent}% every {minutes}"
        return ALL_AT_ONCE


@dataclass(frozen=True)
class Freeze:
    """A window in which deploys are refused: an absolute range, or weekly days and hours.

    Absolute: ``start``/``end`` datetimes. Weekly: ``days`` (mon..sun, the days it starts),
    ``daily_start``/``daily_end`` times (an end at or before the start ends the next day).
    Times without an offset are in ``time_zone``.
    """

    name: str
    time_zone: str = "UTC"
    start: datetime | None = None
    end: datetime | None = None
    days: tuple[str, ...] = ()
    daily_start: time | None = None
    daily_end: time | None = None


@dataclass(frozen=True)
class Environment:
    """A deploy target: region, bucket the functions read from, one function per service."""

    name: str
    region: str
    bucket: str
    functions: dict[str, str]
    alias: str = "live"
    gate: Gate | None = None
    read_only: bool = False
    mirror_of: str | None = None
    smoke: Smoke | None = None
    rollout: Rollout = field(default_factory=Rollout)
    promote_after_minutes: float = 0.0
    freezes: tuple[Freeze, ...] = ()
    account: str | None = None  # the AWS account its functions live in (None: the vault's)
    role: str | None = None  # the IAM role its deploy job assumes (an ARN)

    def role_arn(self, prefix: str) -> str:
        """The role its deploy job assumes: ``role``, else ``vault-<name>`` in ``account``,
        else ``<prefix><name>`` (the prefix of the vault account's roles)."""
        if self.role:
            return self.role
        if self.account:
            return f"arn:aws:iam::{self.account}:role/vault-{self.name}"
        return f"{prefix}{self.name}"

    @property
    def aws_account(self) -> str | None:
        """The account its functions live in: ``account``, else its ``role``'s (None: the
        vault's account, whatever the credentials are)."""
        if self.account:
            return self.account
        return self.role.split(":")[4] if self.role else None

    @property
    def smoke_tested(self) -> bool:
        """True when the environment has smoke checks or a smoke command to run (a
        ``smoke:`` with only a base-url names the app's URL and tests nothing)."""
        return self.smoke is not None and bool(self.smoke.checks or self.smoke.command)

    @property
    def gated(self) -> bool:
        """True when an approval must be recorded before a deploy."""
        return self.gate is not None


@dataclass(frozen=True)
class Smtp:
    """An SMTP server; the login comes from the environment variables named here."""

    host: str
    port: int = 587
    tls: str = "starttls"  # starttls, ssl or none
    username_env: str | None = None
    password_env: str | None = None


@dataclass(frozen=True)
class Email:
    """E-mail notices: who sends, who receives, and through SES (in ``region``) or SMTP."""

    sender: str
    to: tuple[str, ...]
    via: str = "ses"
    region: str = ""
    smtp: Smtp | None = None


@dataclass(frozen=True)
class VaultSettings:
    """The vault bucket, its region, where the ledger lives in it, and whether deploys
    insist on its protections (``protected: false`` is for demos and tests only)."""

    bucket: str
    region: str
    ledger_prefix: str = "ledger/"
    minimum_retention_days: int | None = None  # vault doctor fails on a shorter lock
    protected: bool = True


@dataclass(frozen=True)
class LedgerSettings:
    """Who may write the events that decide promotions (``ledger:`` in vault.yml).

    ``workflows`` maps each kind of SUITE_WORKFLOWS to the ``job_workflow_ref`` patterns
    trusted for them; ``allow_local`` names the events that count even when written
    outside Actions (break-glass; none by default).
    """

    repository: str | None = None
    issuer: str = GITHUB_ISSUER
    workflows: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: default_workflows(SUITE)
    )
    allow_local: frozenset[str] = frozenset()


def default_workflows(suite: str) -> dict[str, tuple[str, ...]]:
    """The suite's reusable workflows at any of its refs (tags, branches, SHAs)."""
    return {
        kind: (f"{suite}/.github/workflows/{name}@*",) for kind, name in SUITE_WORKFLOWS.items()
    }


@dataclass(frozen=True)
class Config:
    """A validated ``vault.yml``."""

    path: Path
    vault: VaultSettings
    services: tuple[Service, ...]
    environments: tuple[Environment, ...]
    slack_webhook_env: str = "SLACK_WEBHOOK_URL"
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    email: Email | None = None

    @property
    def root(self) -> Path:
        """The folder holding vault.yml: service paths are relative to it."""
        return self.path.parent

    @property
    def repository(self) -> Path:
        """The repository holding vault.yml (nearest folder with ``.git``; else its folder):
        service paths and dist folders must stay inside it."""
        for folder in (self.root, *self.root.parents):
            if (folder / ".git").exists():
                return folder.resolve()
        return self.root.resolve()

    def escapes(self, path: Path) -> Path | None:
        """Where ``path`` really leads (symlinks and '..' resolved) when that is outside
        the repository, else None."""
        real = path.resolve()
        return None if real.is_relative_to(self.repository) else real

    @property
    def promotion_order(self) -> tuple[Environment, ...]:
        """The environments a release is promoted through, DR mirrors excluded."""
        return tuple(e for e in self.environments if e.mirror_of is None)

    @property
    def mirrors(self) -> tuple[Environment, ...]:
        """DR environments: each mirrors a promotion environment."""
        return tuple(e for e in self.environments if e.mirror_of is not None)

    def environment(self, name: str) -> Environment:
        """The environment called ``name``, or a ConfigError listing the known ones."""
        for env in self.environments:
            if env.name == name:
                return env
        known = ", ".join(e.name for e in self.environments)
        raise ConfigError(
            f"{self.path}: no environment named {name!r}",
            f"use one of: {known}",
        )

    def previous(self, env: Environment) -> Environment | None:
        """The environment a release must pass before ``env`` (None for the first)."""
        order = self.promotion_order
        if env.mirror_of is not None:
            return self.environment(env.mirror_of)
        index = order.index(env)
        return order[index - 1] if index else None

    def service(self, name: str) -> Service:
        """The service called ``name``."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise ConfigError(f"{self.path}: no service named {name!r}")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema shipped with the package."""
    text = resources.files("vault_actions").joinpath("schema/vault.schema.json").read_text()
    return dict(json.loads(text))


def load(path: str | Path = DEFAULT_CONFIG, *, placeholders: bool = False) -> Config:
    """Read, validate and freeze a vault.yml; every problem is a ConfigError.

    ``placeholders=True`` accepts what `vault init` left to fill in (its pipeline is
    generated from the environments before the team has filled in the rest)."""
    import yaml

    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found",
            "create a vault.yml (see `vault init`) or pass --config PATH",
        ) from None
    try:
        raw = yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, text, exc) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(raw, path, placeholders=placeholders)


# What PyYAML's problems mean, in words: (problem fragment, what is wrong, what to do).
_YAML_PROBLEMS = (
    ("mapping values are not allowed", "a ':' where no key can start",
     "quote a value that contains ': ' (build: \"echo a: b\"), or give the line above "
     "its missing ':'"),
    ("'\\t' that cannot start", "a tab character", "indent with spaces: YAML forbids tabs"),
    ("cannot start any token", "this character cannot start a plain value",
     "quote the value ('@…', '`…' and '%…' need quotes)"),
    ("expected <block end>", "this line is not indented like the lines around it",
     "indent the keys of one mapping (and the items of one list) by the same spaces"),
    ("did not find expected key", "this line is not indented like the lines around it",
     "indent the keys of one mapping (and the items of one list) by the same spaces"),
    ("could not find expected ':'", "a key without its ':'", "write key: value"),
    ("undefined alias", "an alias (*name) with no anchor (&name)",
     "define the anchor before the alias, or write the value out"),
    ("expected ',' or '}'", "an inline {…} mapping is not closed or lacks a ','",
     "separate its entries with ', ' and close it with '}'"),
    ("expected ',' or ']'", "an inline […] list is not closed or lacks a ','",
     "separate its items with ', ' and close it with ']'"),
)
_UNCLOSED = (
    ("quoted scalar", "a quote opened here is never closed", "close the quote"),
    ("flow sequence", "a '[' opened here is never closed", "close the list with ']'"),
    ("flow mapping", "a '{' opened here is never closed", "close the mapping with '}'"),
)


def _syntax_error(path: Path, text: str, exc: Any) -> ConfigError:
    """``file:line:col``, the line with a caret under the column, and a hint in words."""
    problem = str(exc.problem or "")
    context = str(exc.context or "")
    mark = exc.problem_mark
    what, hint = problem, "fix the YAML at the caret (`vault validate` re-checks it)"
    for fragment, meaning, todo in _YAML_PROBLEMS:
        if fragment in problem:
            what, hint = meaning, todo
            break
    opened = exc.context_mark
    for fragment, meaning, todo in _UNCLOSED:
        if fragment not in context or opened is None:
            continue
        if "end of stream" in problem or "<stream end>" in problem:
            mark, what, hint = opened, meaning, todo
        elif opened.line != mark.line:
            what += f" (it opened on line {opened.line + 1})"
        break
    lines = text.splitlines() or [""]
    row = min(mark.line, len(lines) - 1)
    source = lines[row].replace("\t", " ")
    number = f"{row + 1:>4} | "
    excerpt = f"{number}{source}\n{' ' * (len(number) - 2)}| {' ' * mark.column}^"
    return ConfigError(
        f"{path}:{row + 1}:{mark.column + 1}: not valid YAML: {what}\n{excerpt}", hint
    )


@cache
def _loader() -> Any:
    """A SafeLoader that keeps dates and times of day as text (YAML 1.1 would turn
    ``18:00`` into 1080 and ``2026-12-20`` into a date): the schema checks them as text."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    sexagesimal = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+$")
    for first, resolvers in Loader.yaml_implicit_resolvers.items():
        Loader.yaml_implicit_resolvers[first] = [
            (tag, re.compile(f"(?!{sexagesimal.pattern})(?:{regexp.pattern})", re.X))
            if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") else (tag, regexp)
            for tag, regexp in resolvers
        ]
    return Loader


def parse(raw: Any, path: Path, *, placeholders: bool = False) -> Config:
    """Validate an already-parsed document and build the Config (``placeholders``: see
    ``load``)."""
    if not placeholders:
        _refuse_placeholders(raw, path)
    _validate_schema(raw, path)
    config = _build(raw, path)
    _check_semantics(config, raw)
    return config


def _key_path(parts: Any, raw: Any) -> str:
    """``services[price-fetcher].buld``: list items by their name when they have one."""
    out, node = "", raw
    for part in parts:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            valid = isinstance(name, str) and NAME.fullmatch(name)
            out += f"[{name}]" if valid else f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        node = _child(node, part)
    return out or "(top level)"


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _placeholders(node: Any, parts: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(key path, value) of every placeholder string in the document."""
    if isinstance(node, dict):
        return [f for key, value in node.items() for f in _placeholders(value, (*parts, key))]
    if isinstance(node, list):
        return [f for i, value in enumerate(node) for f in _placeholders(value, (*parts, i))]
    if isinstance(node, str) and (
        PLACEHOLDER.casefold() in node.casefold() or node in PLACEHOLDER_LOGINS
    ):
        return [(parts, node)]
    return []


def _refuse_placeholders(raw: Any, path: Path) -> None:
    found = _placeholders(raw)
    if not found:
        return
    lines = []
    for parts, value in found:
        key = next((p for p in reversed(parts) if isinstance(p, str)), "")
        wanted = _TO_FILL.get(key, "the real value")
        lines.append(f"{_key_path(parts, raw)}: {value!r} is a placeholder; write {wanted}")
    raise ConfigError(
        f"{path} still holds {plural(len(found), 'placeholder')} from `vault init`:\n    "
        + "\n    ".join(lines),
        "fill in each key listed above, then run `vault validate` again",
    )


def _validate_schema(raw: Any, path: Path) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = [line for e in errors for line in _explain(e, raw)][:10]
    raise ConfigError(
        f"{path} is invalid:\n    " + "\n    ".join(lines),
        "fix the keys listed above (`vault validate` re-checks the file)",
    )


def _explain(err: Any, raw: Any) -> list[str]:
    """Turn a jsonschema error into 'where: what is wrong; what is allowed' lines."""
    where = _key_path(err.absolute_path, raw)
    schema_ = err.schema if isinstance(err.schema, dict) else {}
    described = schema_.get("description")
    if err.validator == "additionalProperties":
        known = sorted(schema_.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        prefix = "" if where == "(top level)" else f"{where}."
        return [f"{prefix}{key}: unknown key{_did_you_mean(key, known)}; allowed keys: "
                f"{', '.join(known) or 'none'}" for key in extra]
    if err.validator in ("pattern", "anyOf", "maximum", "minimum") and described:
        return [f"{where}: {err.instance!r} is not valid: expected {described}"]
    if err.validator == "type":
        return [f"{where}: {err.instance!r} has the wrong type: expected {err.validator_value}"]
    if err.validator == "enum":
        return [f"{where}: {err.instance!r} is not allowed: use one of {err.validator_value}"]
    if err.validator == "propertyNames":
        return [f"{where}: {err.message}: names must be lowercase letters, digits and '-'"]
    return [f"{where}: {err.message}"]


def _did_you_mean(key: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(raw: dict[str, Any], path: Path) -> Config:
    root = path.parent
    vault = VaultSettings(bucket=raw["vault"]["bucket"], region=raw["vault"]["region"],
                          minimum_retention_days=raw["vault"].get("minimum-retention-days"),
                          protected=raw["vault"].get("protected", True))
    services = tuple(
        Service(
            name=s["name"],
            path=(root / s.get("path", ".")).resolve(),
            build=s.get("build"),
            dist=s.get("dist", "dist"),
            allow=tuple(s.get("allow", ())),
            max_size=s.get("max-size"),
            build_env=tuple(s.get("build-env", ())),
        )
        for s in raw["services"]
    )
    envs = tuple(_environment(e, vault) for e in raw["environments"])
    notifications = raw.get("notifications", {})
    return Config(
        path=path,
        vault=vault,
        services=services,
        environments=envs,
        slack_webhook_env=notifications.get("slack-webhook-env", "SLACK_WEBHOOK_URL"),
        ledger=_ledger(raw.get("ledger", {})),
        email=_email(notifications["email"], vault) if "email" in notifications else None,
    )


def _ledger(raw: dict[str, Any]) -> LedgerSettings:
    workflows = default_workflows(raw.get("suite", SUITE))
    workflows.update({k: tuple(v) for k, v in raw.get("workflows", {}).items()})
    return LedgerSettings(
        repository=raw.get("repository"),
        issuer=str(raw.get("issuer", GITHUB_ISSUER)).rstrip("/"),
        workflows=workflows,
        allow_local=frozenset(raw.get("allow-local", ())),
    )


def _email(raw: dict[str, Any], vault: VaultSettings) -> Email:
    smtp = raw.get("smtp")
    tls = smtp.get("tls", "starttls") if smtp else "starttls"
    return Email(
        sender=raw["from"],
        to=tuple(raw["to"]),
        via=raw.get("via", "ses"),
        region=raw.get("region", vault.region),
        smtp=Smtp(
            host=smtp["host"],
            port=smtp.get("port", 465 if tls == "ssl" else 587),
            tls=tls,
            username_env=smtp.get("username-env"),
            password_env=smtp.get("password-env"),
        ) if smtp else None,
    )


def _environment(raw: dict[str, Any], vault: VaultSettings) -> Environment:
    smoke = raw.get("smoke")
    gate = raw.get("gate")
    name = raw["name"]
    return Environment(
        name=name,
        region=raw.get("region", vault.region),
        bucket=raw.get("bucket", vault.bucket),
        functions=dict(raw["functions"]),
        alias=raw.get("alias", "live"),
        gate=Gate(tuple(gate.get("approvers", ())), tuple(gate.get("teams", ())),
                  bool(gate.get("allow-author-approval", False)))
        if gate is not None
        else None,
        read_only=raw.get("read-only", name == "prod" or raw.get("mirror-of") == "prod"),
        mirror_of=raw.get("mirror-of"),
        smoke=_smoke(smoke) if smoke is not None else None,
        rollout=_rollout(raw.get("rollout", {})),
        promote_after_minutes=float(raw.get("promote-after-minutes", 0)),
        freezes=tuple(_freeze(f) for f in raw.get("freeze", ())),
        account=raw.get("account"),
        role=raw.get("role"),
    )


def _rollout(raw: dict[str, Any]) -> Rollout:
    strategy = raw.get("strategy", ALL_AT_ONCE)
    minutes = raw.get("bake-minutes" if strategy == "canary" else "interval-minutes", 0)
    return Rollout(
        strategy=strategy,
        percent=int(raw.get("percent", 10)),
        step_seconds=float(minutes) * 60,
        poll_seconds=float(raw.get("poll-seconds", 10)),
        alarms=tuple(raw.get("alarms", ())),
        smoke_each_step=bool(raw.get("smoke-each-step", False)),
        pre_traffic=bool(raw.get("pre-traffic", False)),
    )


def _freeze(raw: dict[str, Any]) -> Freeze:
    """One freeze window (the schema checked the shapes; a value like 2026-13-01 fails here)."""
    zone = raw.get("time-zone", "UTC")
    name = raw["name"]
    try:
        if "days" in raw:
            return Freeze(
                name=name, time_zone=zone, days=tuple(raw["days"]),
                daily_start=time.fromisoformat(raw["from"]),
                daily_end=time.fromisoformat(raw["until"]),
            )
        return Freeze(
            name=name, time_zone=zone,
            start=datetime.fromisoformat(raw["from"]), end=datetime.fromisoformat(raw["until"]),
        )
    except ValueError as exc:
        raise ConfigError(
            f"freeze window {name!r}: {exc} (from {raw['from']!r}, until {raw['until']!r})",
            "write dates as 2026-12-20T18:00 (an offset like +01:00 is optional) and "
            "times of day as 18:00",
        ) from None


def _smoke(raw: dict[str, Any]) -> Smoke:
    checks = tuple(
        Check(
            path=c["path"],
            name=c.get("name", ""),
            method=c.get("method", "GET"),
            status=c.get("status", 200),
            json=dict(c.get("json", {})),
            body_contains=c.get("body-contains"),
            max_latency_ms=c.get("max-latency-ms"),
            headers=dict(c.get("headers", {})),
            body=c.get("body"),
        )
        for c in raw.get("checks", ())
    )
    return Smoke(
        base_url=raw.get("base-url"),
        checks=checks,
        command=raw.get("command"),
        timeout_seconds=float(raw.get("timeout-seconds", 120)),
        retry_interval_seconds=float(raw.get("retry-interval-seconds", 2)),
    )


def _rollout_problems(where: str, env: Environment) -> list[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    problems = []
    if env.rollout.smoke_each_step and not env.smoke_tested:
        problems.append(f"{where}.rollout.smoke-each-step: {env.name} has no smoke checks "
                        "or command to run; add smoke: or drop smoke-each-step")
    if env.rollout.pre_traffic and not (env.smoke and env.smoke.command):
        problems.append(f"{where}.rollout.pre-traffic: runs smoke.command, which {env.name} "
                        "does not have; add smoke.command or drop pre-traffic")
    for j, window in enumerate(env.freezes):
        try:
            ZoneInfo(window.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{where}.freeze[{j}].time-zone: unknown time zone "
                            f"{window.time_zone!r}; use an IANA name such as Europe/Paris")
            continue
        if window.start is not None and window.end is not None:
            zone = ZoneInfo(window.time_zone)
            start, end = (t if t.tzinfo else t.replace(tzinfo=zone)
                          for t in (window.start, window.end))
            if end <= start:
                problems.append(f"{where}.freeze[{j}] ({window.name}): until {window.end} is "
                                f"not after from {window.start}")
    return problems


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def _check_semantics(config: Config, raw: dict[str, Any]) -> None:
    problems: list[str] = []
    service_names = [s.name for s in config.services]
    env_names = [e.name for e in config.environments]
    if dup := _duplicates(service_names):
        problems.append(f"services: duplicate service name(s) {', '.join(dup)}")
    if dup := _duplicates(env_names):
        problems.append(f"environments: duplicate environment name(s) {', '.join(dup)}")
    problems += [
        f"environments: {name!r} is reserved for the {name} job (its IAM role and ledger "
        "folder carry that name); rename the environment"
        for name in env_names if name in (BUILD_JOB, GATE_JOB)
    ]
    problems += [
        f"{where}: {name!r} is not a valid name: {NAME_RULE}"
        for where, name in _names(config)
        if not NAME.fullmatch(name)
    ]
    for i, svc in enumerate(config.services):
        problems += _service_problems(svc, config, raw["services"][i].get("path", "."))
    for env in config.environments:
        problems += _environment_problems(env, config, service_names, env_names)
    if config.email is not None:
        problems += _email_problems(config.email)
    if problems:
        raise ConfigError(
            f"{config.path} is invalid:\n    " + "\n    ".join(problems),
            "fix the keys listed above (`vault validate` re-checks the file)",
        )


def _names(config: Config) -> list[tuple[str, str]]:
    """Every name vault.yml gives, with where it is written."""
    found = [(f"services[{i}].name", s.name) for i, s in enumerate(config.services)]
    for i, env in enumerate(config.environments):
        found.append((f"environments[{i}].name", env.name))
        if env.mirror_of is not None:
            found.append((f"environments[{i}].mirror-of", env.mirror_of))
    return found


def _service_problems(svc: Service, config: Config, path: str) -> list[str]:
    where = f"services[{svc.name}]"
    problems = [
        f"{where}.{key}: {written!r} leads to {real}, outside the repository "
        f"{config.repository}; a service ships only files of its repository: use a "
        "relative path inside it (and no symlink out of it)"
        for key, target, written in (("path", svc.path, path), ("dist", svc.dist_dir, svc.dist))
        if (real := config.escapes(target)) is not None
    ]
    problems += [
        f"{where}.build-env: {name} is never handed to a build command (builds run without "
        "cloud credentials, tokens, runner or action variables); remove it from build-env"
        for name in svc.build_env
        if FORBIDDEN_BUILD_ENV.fullmatch(name)
    ]
    return problems


def _environment_problems(
    env: Environment, config: Config, services: list[str], envs: list[str]
) -> list[str]:
    where = f"environments[{env.name}]"
    problems = [
        f"{where}.functions.{name}: unknown service; services are: {', '.join(services)}"
        for name in env.functions
        if name not in services
    ]
    problems += [
        f"{where}.functions: no function for service {name!r}; map every service"
        for name in services
        if name not in env.functions
    ]
    if env.account and env.role and env.role.split(":")[4] != env.account:
        problems.append(
            f"{where}.role: {env.role!r} is a role of account {env.role.split(':')[4]}, but "
            f"{where}.account is {env.account}: name a role of the environment's account"
        )
    if env.mirror_of is not None and (env.mirror_of not in envs or env.mirror_of == env.name):
        problems.append(
            f"{where}.mirror-of: {env.mirror_of!r} is not another environment; "
            f"use one of: {', '.join(n for n in envs if n != env.name)}"
        )
    if env.mirror_of is not None and env.region != config.vault.region \
            and env.bucket == config.vault.bucket:
        problems.append(
            f"{where}.bucket: Lambda in {env.region} cannot read the vault bucket in "
            f"{config.vault.region}; name a bucket in {env.region}"
        )
    problems += _rollout_problems(where, env)
    if env.read_only and env.smoke is not None:
        problems += [
            f"{where}.smoke.checks[{j}].method: {c.method} is not allowed in a read-only "
            f"environment; use GET or HEAD (or set read-only: false)"
            for j, c in enumerate(env.smoke.checks)
            if c.method not in READ_ONLY_METHODS
        ]
    return problems


LOOPBACK = frozenset({"localhost", "127.0.0.1"})


def _email_problems(email: Email) -> list[str]:
    where = "notifications.email"
    smtp = email.smtp
    if email.via == "smtp" and smtp is None:
        return [f"{where}.smtp: via: smtp needs the server; add smtp: {{host: smtp.example.com}}"]
    if email.via == "ses" and smtp is not None:
        return [f"{where}.smtp: SMTP settings, but via is ses; set via: smtp or remove smtp:"]
    if smtp is None:
        return []
    problems = []
    if (smtp.username_env is None) != (smtp.password_env is None):
        problems.append(f"{where}.smtp: name both username-env and password-env, or neither")
    if smtp.tls == "none" and smtp.username_env and smtp.host not in LOOPBACK:
        problems.append(
            f"{where}.smtp.tls: none would send the SMTP password to {smtp.host} in clear "
            "text; use starttls or ssl (none is only for a server on localhost)"
        )
    return problems
