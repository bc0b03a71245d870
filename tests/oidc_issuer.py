"""A local OIDC issuer shaped like GitHub Actions', on 127.0.0.1 (the tests' one home).

It serves ``/.well-known/openid-configuration`` and the JWKS of its own RSA key, and a
token endpoint shaped like the runner's ``ACTIONS_ID_TOKEN_REQUEST_URL``: a GET with
``&audience=…`` and ``Authorization: bearer <request token>`` answers ``{"value": JWT}``
with the claims of the job that request token belongs to (``job()`` registers one, as
GitHub does for every job). ``forge()`` signs with another key under the honest key's id.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SUITE_WORKFLOWS = "vault-actions/vault-actions/.github/workflows"
BUILD = f"{SUITE_WORKFLOWS}/vault-build.yml@refs/tags/v1"
STAGE = f"{SUITE_WORKFLOWS}/vault-stage.yml@refs/tags/v1"
RECORD = f"{SUITE_WORKFLOWS}/vault-record.yml@refs/tags/v1"
GATE = f"{SUITE_WORKFLOWS}/vault-gate.yml@refs/tags/v1"
DR_SYNC = f"{SUITE_WORKFLOWS}/vault-dr-sync.yml@refs/tags/v1"


def workflow_of(event: str, environment: str | None, mirrors: tuple[str, ...] = ("dr",),
                source: str | None = None) -> str:
    """The suite workflow whose job writes ``event`` (in ``environment``) in a release run."""
    if event == "built":
        return BUILD
    if event in ("cancelled", "rejected") and source != "github-environment":
        return RECORD
    return DR_SYNC if environment in mirrors else STAGE


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    """The issuer; ``resolve`` may map unknown request tokens to claims (the act runs)."""

    repository: str = "acme/shop"
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    resolve: Callable[[str], dict[str, Any] | None] | None = None
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    forged_key: rsa.RSAPrivateKey = field(default_factory=_key)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """A release job's claims in the shape GitHub gives them, with ``overrides``."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.url, "sub": f"repo:{self.repository}:ref:refs/heads/main",
            "repository": self.repository, "repository_owner": self.repository.split("/")[0],
            "ref": "refs/heads/main", "sha": "c0ffee" * 6 + "abcd", "actor": "octocat",
            "run_id": "4242", "run_attempt": "1", "event_name": "push",
            "workflow": "release", "job_workflow_ref": STAGE,
            "iat": now, "nbf": now, "exp": now + 300, "jti": uuid.uuid4().hex,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def sign(self, claims: dict[str, Any], *, forged: bool = False) -> str:
        """A JWT of ``claims``, by the honest key (or the forger's, under the same kid)."""
        key = self.forged_key if forged else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    def token(self, audience: str, *, forged: bool = False, **claims: Any) -> str:
        """A signed token for ``audience`` with a release job's claims and ``claims``."""
        return self.sign(self.claims(aud=audience, **claims), forged=forged)

    def job(self, **claims: Any) -> dict[str, str]:
        """Register a job with ``claims``: the runner variables its steps would see."""
        request_token = secrets.token_urlsafe(16)
        self.jobs[request_token] = claims
        return self.runner_env(request_token)

    def runner_env(self, request_token: str) -> dict[str, str]:
        """``ACTIONS_ID_TOKEN_REQUEST_URL`` / ``_TOKEN`` for ``request_token``."""
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
        }

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def _answer(self, path: str, authorization: str) -> tuple[int, Any]:
        parts = urlsplit(path)
        if parts.path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": f"{self.url}/.well-known/jwks",
                         "id_token_signing_alg_values_supported": ["RS256"]}
        if parts.path == "/.well-known/jwks":
            return 200, self.jwks()
        if parts.path == "/token":
            request_token = authorization.removeprefix("bearer ").strip()
            claims = self.jobs.get(request_token)
            if claims is None and self.resolve is not None:
                claims = self.resolve(request_token)
            audience = parse_qs(parts.query).get("audience", [""])[0]
            if claims is None or not audience:
                return 401, {"message": "Unauthorized"}
            value = self.token(audience, **claims)
            self.issued.append({"audience": audience, **claims})
            return 200, {"count": 1, "value": value}
        return 404, {"message": "Not Found"}

    def start(self) -> Issuer:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def do_GET(self) -> None:
                status, body = issuer._answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextmanager
def running(**kwargs: Any) -> Iterator[Issuer]:
    """An issuer for the duration of the block."""
    issuer = Issuer(**kwargs).start()
    try:
        yield issuer
    finally:
        issuer.stop()


@dataclass
class HonestJobs:
    """An attestor that proves each event as the job entitled to write it would: the
    environment's own release job, the gate workflow run by the approver, the DR job.
    For tests whose subject is not the ledger's trust but need events that count."""

    issuer: Issuer
    mirrors: tuple[str, ...] = ("dr",)

    def prove(self, body: Mapping[str, Any]) -> dict[str, Any]:
        from vault_actions.store import attestation

        details = body.get("details") or {}
        env = body.get("environment")
        workflow = workflow_of(body["event"], env, self.mirrors, details.get("source"))
        claims: dict[str, Any] = {"actor": body["actor"], "environment": env,
                                  "job_workflow_ref": workflow}
        if body["event"] == "approved" and details.get("source") != "github-environment":
            claims.update(environment=None, job_workflow_ref=GATE)  # run by its actor
        if body["event"] == "built":
            claims.update(environment=None, sha=body.get("commit"))
        run_url = str(body.get("run_url") or "")
        if "/actions/runs/" in run_url:
            repository = run_url.split("/actions/runs/", maxsplit=1)[0].split("/", 3)[-1]
            claims.update(run_id=run_url.rsplit("/", 1)[-1], repository=repository)
        at = int(datetime.fromisoformat(body["at"]).timestamp())
        token = self.issuer.token(attestation.audience(body), iat=at, **claims)
        return {"kind": "github-oidc", "token": token}
