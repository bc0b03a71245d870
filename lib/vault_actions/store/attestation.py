"""Proof of who wrote a ledger event, checkable without trusting the bucket.

An event's *digest* is the SHA-256 of its canonical JSON without its ``proof``. In
GitHub Actions the writing job asks the runner for an OIDC token whose audience is
``vault-actions:sha256:<digest>`` and stores it as the proof: the token is signed by
GitHub, names the repository, environment, workflow, actor, run and commit of the job,
and cannot be moved to another event (its audience would not match). Outside Actions
the proof is only the caller's STS identity: a *local* event, which the promotion policy
counts only where vault.yml allows local decisions (``ledger.allow-local``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from vault_actions.errors import AttestationError
from vault_actions.integrations import oidc

log = logging.getLogger(__name__)

AUDIENCE_PREFIX = "vault-actions:sha256:"
GITHUB_OIDC = "github-oidc"
LOCAL = "local"
# A token is requested right after its event is composed; more than this apart is not it.
MAX_SKEW_SECONDS = 900
CLAIMS = ("repository", "environment", "job_workflow_ref", "actor", "run_id", "sha")
_ARN = re.compile(r"arn:aws[a-z-]*:(?:iam|sts)::\d{12}:[\w+=,.@/-]+")


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes a proof is bound to: sorted, compact JSON of the event without ``proof``."""
    unsigned = {k: v for k, v in body.items() if k != "proof"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(body: Mapping[str, Any]) -> str:
    """Hex SHA-256 of :func:`canonical`."""
    return hashlib.sha256(canonical(body)).hexdigest()


def audience(body: Mapping[str, Any]) -> str:
    """The OIDC audience that binds a token to this one event."""
    return AUDIENCE_PREFIX + digest(body)


class Attestor(Protocol):
    """Makes the proof of an event about to be written."""

    def prove(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The ``proof`` to store with ``body``."""
        ...


@dataclass
class OidcAttestor:
    """In Actions: a GitHub OIDC token whose audience is the event's digest."""

    env: Mapping[str, str]
    http: Any = None

    def prove(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``{"kind": "github-oidc", "token": JWT}``."""
        token = oidc.request_token(self.env, audience(body), self.http)
        return {"kind": GITHUB_OIDC, "token": token}


@dataclass
class LocalAttestor:
    """Outside Actions: the caller's STS identity (a claim, not a proof)."""

    sts: Any
    _identity: str | None = None

    @property
    def identity(self) -> str:
        """``sts get-caller-identity``'s ARN (asked once)."""
        if self._identity is None:
            self._identity = str(self.sts.get_caller_identity()["Arn"])
        return self._identity

    def prove(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``{"kind": "local", "identity": ARN}``."""
        return {"kind": LOCAL, "identity": self.identity}


def from_environment(
    env: Mapping[str, str] | None = None, sts: Callable[[], Any] | None = None
) -> Attestor:
    """The OIDC attestor in a job that may request tokens, else the local one."""
    env = env if env is not None else os.environ
    if oidc.can_request(env):
        return OidcAttestor(env)
    if env.get("GITHUB_ACTIONS") == "true":
        log.warning("ledger: this job cannot request an OIDC token (no id-token: write); "
                    "its events are recorded as local and count only where allowed")
    if sts is None:
        from vault_actions.integrations import aws

        return LocalAttestor(aws.client("sts"))
    return LocalAttestor(sts())


def author(attestor: Attestor, actor: str) -> str:
    """The name a decision is recorded under: the GitHub actor in Actions (the token
    proves it), the STS identity's name outside (``…:user/qa-lead`` → ``qa-lead``)."""
    if isinstance(attestor, LocalAttestor):
        return identity_name(attestor.identity)
    return actor


def identity_name(arn: str) -> str:
    """The person or session an ARN names: ``…:user/qa-lead`` → ``qa-lead``."""
    return arn.rsplit("/", 1)[-1] if "/" in arn else arn


@dataclass(frozen=True)
class Writer:
    """Who wrote an event, as far as it can be established."""

    kind: str                       # github-oidc or local
    claims: Mapping[str, Any]       # the verified token's claims (empty when local)
    identity: str | None = None     # the STS ARN a local event names

    @property
    def local(self) -> bool:
        """True for an event written outside Actions (its identity is only claimed)."""
        return self.kind == LOCAL

    def claim(self, name: str) -> str | None:
        """One claim as a string (None when absent)."""
        value = self.claims.get(name)
        return None if value is None else str(value)

    def describe(self) -> str:
        """``acme/shop run 42 (prod, …/vault-stage.yml@v1) by octocat`` or ``local …``."""
        if self.local:
            return f"local: {self.identity}"
        env = self.claim("environment") or "no environment"
        return (f"{self.claim('repository')} run {self.claim('run_id')} ({env}, "
                f"{self.claim('job_workflow_ref')}) by {self.claim('actor')}")

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        if self.local:
            return {"kind": self.kind, "identity": self.identity}
        return {"kind": self.kind, **{c: self.claim(c) for c in CLAIMS}}


class Verifier:
    """Checks events' proofs: a signature by ``issuer`` and claims that agree with them.

    ``repository`` is the only repository whose runs may write the ledger (None: unknown,
    so no token verifies). Keys are fetched once.
    """

    def __init__(self, issuer: str, repository: str | None, keys: oidc.Keys | None = None) -> None:
        self.issuer = issuer
        self.repository = repository
        self.keys = keys or oidc.Keys(issuer)

    def writer(self, body: Mapping[str, Any]) -> Writer:
        """The proven writer of a stored event; AttestationError saying why not."""
        proof = body.get("proof")
        if not isinstance(proof, dict):
            raise AttestationError("it carries no proof of who wrote it")
        kind = proof.get("kind")
        if kind == LOCAL:
            identity = proof.get("identity")
            if not isinstance(identity, str) or not _ARN.fullmatch(identity):
                raise AttestationError(f"its local identity {identity!r} is not an AWS ARN")
            return Writer(LOCAL, {}, identity)
        if kind != GITHUB_OIDC or not isinstance(proof.get("token"), str):
            raise AttestationError(f"its proof is of an unknown kind {kind!r}")
        claims = self.keys.verify(proof["token"], audience(body))
        self._agree(body, claims)
        return Writer(GITHUB_OIDC, claims)

    def _agree(self, body: Mapping[str, Any], claims: Mapping[str, Any]) -> None:
        repo, run_id = claims.get("repository"), claims.get("run_id")
        if self.repository is None:
            raise AttestationError(
                f"its token is from repository {repo!r}, but which repository may write this "
                "ledger is unknown (set ledger.repository in vault.yml)"
            )
        if repo != self.repository:
            raise AttestationError(
                f"its token is from repository {repo!r}, not {self.repository!r}"
            )
        problems = []
        if claims.get("actor") != body.get("actor"):
            problems.append(f"actor {claims.get('actor')!r} ≠ {body.get('actor')!r}")
        run_url = str(body.get("run_url") or "")
        if not run_url.endswith(f"/{repo}/actions/runs/{run_id}"):
            problems.append(f"run {repo}#{run_id} ≠ {run_url or 'none'}")
        if body.get("event") == "built" and claims.get("sha") != body.get("commit"):
            problems.append(f"commit {claims.get('sha')!r} ≠ {body.get('commit')!r}")
        at = _time(body.get("at"))
        issued = claims.get("iat")
        if at is None or not isinstance(issued, int | float) \
                or abs(issued - at.timestamp()) > MAX_SKEW_SECONDS:
            problems.append(f"token issued at {issued!r}, event at {body.get('at')!r}")
        if problems:
            raise AttestationError("its token's claims disagree with it: " + "; ".join(problems))


def _time(raw: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
