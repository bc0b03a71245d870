"""Proofs of who wrote a ledger event, against a local OIDC issuer and a moto server."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from tests.oidc_issuer import Issuer, running
from vault_actions.context import RunContext
from vault_actions.errors import AttestationError
from vault_actions.integrations import oidc
from vault_actions.store import attestation
from vault_actions.store.attestation import LocalAttestor, OidcAttestor, Verifier
from vault_actions.store.ledger import Ledger


def job_context(actor: str = "octocat", run_id: str = "4242") -> RunContext:
    return RunContext(
        actor=actor, repository="acme/shop", run_id=run_id,
        run_url=f"https://github.com/acme/shop/actions/runs/{run_id}",
        sha="c0ffee" * 6 + "abcd", server_url="https://github.com", api_url="https://api.github.com",
    )


@pytest.fixture
def verifier(issuer: Issuer) -> Verifier:
    return Verifier(issuer.url, "acme/shop")


def stored(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    return dict(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_an_event_written_in_a_job_carries_a_token_bound_to_its_digest(
    s3: Any, vault_bucket: str, issuer: Issuer, verifier: Verifier
) -> None:
    job = issuer.job(environment="qa")
    ledger = Ledger(s3, vault_bucket, attestor=OidcAttestor(job))
    event = ledger.record("1.0.0", "smoke_passed", "qa", job_context())

    body = stored(s3, vault_bucket, ledger.event_key(event))
    assert body["proof"]["kind"] == "github-oidc"
    assert issuer.issued[-1]["audience"] == attestation.audience(body)
    assert attestation.audience(body) == "vault-actions:sha256:" + attestation.digest(body)
    writer = verifier.writer(body)
    assert not writer.local
    assert (writer.claim("environment"), writer.claim("actor"), writer.claim("run_id")) == ("qa", "octocat", "4242")
    # the verifier reads what the ledger reads: the parsed event verifies the same
    assert verifier.writer(ledger.events("1.0.0")[0].to_json()).claims == writer.claims


def test_a_token_moved_to_another_event_does_not_verify(
    s3: Any, vault_bucket: str, issuer: Issuer, verifier: Verifier
) -> None:
    ledger = Ledger(s3, vault_bucket, attestor=OidcAttestor(issuer.job(environment="dev")))
    honest = ledger.record("1.0.0", "deployed", "dev", job_context())
    # the attacker keeps the genuine token and changes what it vouches for
    moved = replace(honest, environment="prod", id=honest.id)
    with pytest.raises(AttestationError, match="belongs to another event"):
        verifier.writer(moved.to_json())
    other = ledger.record("1.0.0", "smoke_passed", "dev", job_context())
    swapped = replace(other, proof=honest.proof)
    with pytest.raises(AttestationError, match="belongs to another event"):
        verifier.writer(swapped.to_json())


def test_a_token_signed_by_another_key_does_not_verify(
    s3: Any, vault_bucket: str, issuer: Issuer, verifier: Verifier
) -> None:
    ledger = Ledger(s3, vault_bucket, attestor=OidcAttestor(issuer.job(environment="dev")))
    event = ledger.record("1.0.0", "deployed", "prod", job_context())
    body = event.to_json()
    forged = issuer.token(attestation.audience(body), forged=True, environment="prod")
    with pytest.raises(AttestationError, match="Signature verification failed"):
        verifier.writer({**body, "proof": {"kind": "github-oidc", "token": forged}})


BODY = {"schema": 1, "id": "x", "version": "1.0.0", "event": "deployed", "environment": "prod",
        "actor": "octocat", "at": "2026-03-01T10:00:00+00:00", "commit": None, "details": {},
        "run_url": "https://github.com/acme/shop/actions/runs/4242"}


def proven(body: dict[str, Any], token: str) -> dict[str, Any]:
    return {**body, "proof": {"kind": "github-oidc", "token": token}}


def at_of(body: dict[str, Any]) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(body["at"]).timestamp())


def test_a_token_of_an_unknown_key_or_of_another_issuer_does_not_verify(
    issuer: Issuer, verifier: Verifier
) -> None:
    with running() as other:
        token = other.token(attestation.audience(BODY), iss=issuer.url, iat=at_of(BODY))
        with pytest.raises(AttestationError, match="no signing key"):
            verifier.writer(proven(BODY, token))
    token = issuer.token(attestation.audience(BODY), iss="https://elsewhere.example", iat=at_of(BODY))
    with pytest.raises(AttestationError, match="Invalid issuer"):
        verifier.writer(proven(BODY, token))


@pytest.mark.parametrize(("claims", "problem"), [
    ({"repository": "mallory/shop"}, "from repository 'mallory/shop', not 'acme/shop'"),
    ({"actor": "mallory"}, "actor 'mallory'"),
    ({"run_id": "1"}, "run acme/shop#1"),
])
def test_a_token_whose_claims_disagree_with_its_event_does_not_verify(
    issuer: Issuer, verifier: Verifier, claims: dict[str, Any], problem: str
) -> None:
    token = issuer.token(attestation.audience(BODY), iat=at_of(BODY), **claims)
    with pytest.raises(AttestationError, match=problem):
        verifier.writer(proven(BODY, token))


def test_a_token_issued_long_after_its_event_does_not_verify(issuer: Issuer, verifier: Verifier) -> None:
    token = issuer.token(attestation.audience(BODY), iat=at_of(BODY) + 3600)
    with pytest.raises(AttestationError, match="token issued at"):
        verifier.writer(proven(BODY, token))
    assert verifier.writer(proven(BODY, issuer.token(attestation.audience(BODY), iat=at_of(BODY) + 5)))


def test_a_built_event_is_proven_only_by_a_job_at_its_commit(issuer: Issuer, verifier: Verifier) -> None:
    body = {**BODY, "event": "built", "environment": None, "commit": "a" * 40}
    token = issuer.token(attestation.audience(body), iat=at_of(body), sha="b" * 40)
    with pytest.raises(AttestationError, match="commit"):
        verifier.writer(proven(body, token))


def test_without_a_known_repository_no_token_verifies(issuer: Issuer) -> None:
    token = issuer.token(attestation.audience(BODY), iat=at_of(BODY))
    with pytest.raises(AttestationError, match="set ledger.repository"):
        Verifier(issuer.url, None).writer(proven(BODY, token))


@pytest.mark.parametrize("proof", [None, "a string", {"kind": "kms"}, {"kind": "local", "identity": "me"}])
def test_an_event_without_a_usable_proof_has_no_writer(verifier: Verifier, proof: Any) -> None:
    with pytest.raises(AttestationError):
        verifier.writer({**BODY, "proof": proof})


def test_outside_actions_an_event_carries_the_callers_sts_identity(
    s3: Any, vault_bucket: str, verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (oidc.REQUEST_URL, oidc.REQUEST_TOKEN, "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    ledger = Ledger(s3, vault_bucket)
    event = ledger.record("1.0.0", "approved", "prod", job_context(), details={"by": "manager"})
    identity = event.proof["identity"] if event.proof else None
    assert isinstance(ledger.attestor, LocalAttestor)
    assert identity is not None and identity.startswith("arn:aws:") and ":123456789012:" in identity
    writer = verifier.writer(ledger.events("1.0.0")[0].to_json())
    assert writer.local and writer.identity == identity and writer.describe() == f"local: {identity}"


def test_a_job_without_id_token_permission_cannot_get_a_token() -> None:
    with pytest.raises(AttestationError, match="id-token: write"):
        oidc.request_token({}, "vault-actions:sha256:00")


def test_the_runner_refusing_a_token_is_a_clear_error(issuer: Issuer) -> None:
    env = issuer.runner_env("not-a-job")
    with pytest.raises(AttestationError, match="did not issue an OIDC token.*401"):
        oidc.request_token(env, "vault-actions:sha256:00")


def test_the_issuers_keys_are_fetched_once(issuer: Issuer) -> None:
    keys = oidc.Keys(issuer.url)
    for _ in range(3):
        keys.verify(issuer.token("aud"), "aud")
    assert list(keys.jwks) == [issuer.kid]

    class Offline:
        def get(self, *_: Any, **__: Any) -> Any:
            raise AssertionError("a known key needs no fetch")

    seeded = oidc.Keys(issuer.url, Offline(), known=keys.jwks)  # an auditor's kept keys
    assert seeded.verify(issuer.token("aud"), "aud")["aud"] == "aud"
