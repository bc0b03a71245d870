"""GitHub's OIDC tokens: request one in a job, verify one against its issuer's keys.

In a job with ``permissions: id-token: write`` the runner sets
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; a GET of that URL
with ``&audience=…`` returns ``{"value": "<JWT>"}`` signed by
``https://token.actions.githubusercontent.com``. Anyone can check such a token with the
issuer's published keys (its ``/.well-known/openid-configuration`` names the JWKS).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from vault_actions.errors import AttestationError

log = logging.getLogger(__name__)

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 (a variable name)
ALGORITHMS = ("RS256",)
TIMEOUT_SECONDS = 15
PERMISSION_HINT = (
    "grant the job `permissions: id-token: write` (the suite's workflows do), so that "
    "it can prove who wrote its ledger events"
)


def can_request(env: Mapping[str, str]) -> bool:
    """True when this job may request OIDC tokens (``id-token: write``)."""
    return bool(env.get(REQUEST_URL) and env.get(REQUEST_TOKEN))


def request_token(env: Mapping[str, str], audience: str, http: Any = None) -> str:
    """A fresh OIDC token for ``audience``; AttestationError when the runner refuses."""
    import requests

    from vault_actions.integrations.http import session

    if not can_request(env):
        raise AttestationError(
            f"this job cannot request an OIDC token ({REQUEST_URL} is not set)", PERMISSION_HINT
        )
    url = f"{env[REQUEST_URL]}&audience={quote(audience, safe='')}"
    try:
        response = (http or session()).get(
            url, headers={"Authorization": f"bearer {env[REQUEST_TOKEN]}"},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        value = response.json()["value"]
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise AttestationError(
            f"the runner did not issue an OIDC token for audience {audience!r} ({exc})",
            PERMISSION_HINT,
        ) from None
    if not isinstance(value, str) or value.count(".") != 2:
        raise AttestationError(
            f"the runner's OIDC answer is not a JWT: {str(value)[:60]!r}", PERMISSION_HINT
        )
    return value


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of ``token`` without checking anything (for messages only)."""
    import jwt

    try:
        return dict(jwt.decode(token, options={"verify_signature": False}))
    except jwt.PyJWTError:
        return {}


class Keys:
    """An issuer's signing keys, fetched once per process and key id (``kid``).

    ``known`` seeds keys by ``kid`` (JWK dicts): an auditor keeps the keys a year of
    tokens was signed with even after the issuer rotated them away.
    """

    def __init__(
        self, issuer: str, http: Any = None, known: Mapping[str, Any] | None = None
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._http = http
        self._jwks: dict[str, dict[str, Any]] = dict(known or {})
        self._fetched = False
        self._lock = threading.Lock()

    @property
    def jwks(self) -> dict[str, dict[str, Any]]:
        """Every key seen so far, by ``kid``."""
        return dict(self._jwks)

    def key(self, kid: str) -> Any:
        """The public key ``kid``; AttestationError when the issuer has no such key."""
        import jwt

        with self._lock:
            if kid not in self._jwks and not self._fetched:
                self._fetch()
            jwk = self._jwks.get(kid)
        if jwk is None:
            raise AttestationError(
                f"the issuer {self.issuer} has no signing key {kid!r}",
                "a key the issuer never published (a forged token), or one it rotated away: "
                "keep the keys you verified with (vault verify --keys FILE)",
            )
        return jwt.PyJWK.from_dict(jwk).key

    def _fetch(self) -> None:
        import requests

        from vault_actions.integrations.http import session

        http = self._http or session(total=2)
        where = f"{self.issuer}/.well-known/openid-configuration"
        try:
            config = http.get(where, timeout=TIMEOUT_SECONDS)
            config.raise_for_status()
            jwks_uri = config.json()["jwks_uri"]
            answer = http.get(jwks_uri, timeout=TIMEOUT_SECONDS)
            answer.raise_for_status()
            keys = answer.json()["keys"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise AttestationError(
                f"cannot read the signing keys of {self.issuer} ({exc})",
                f"check the network and ledger.issuer in vault.yml ({where})",
            ) from None
        self._fetched = True
        for jwk in keys:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                self._jwks.setdefault(jwk["kid"], jwk)
        log.debug("oidc: %d signing keys of %s", len(self._jwks), self.issuer)

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of ``token`` once its signature, issuer and audience hold.

        Expiry is not checked: a token proves who wrote an event when it was written,
        and the ledger is read for years after.
        """
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            if not isinstance(kid, str):
                raise AttestationError("the token names no signing key (kid)")
            claims = jwt.decode(
                token, self.key(kid), algorithms=list(ALGORITHMS), audience=audience,
                issuer=self.issuer, options={"verify_exp": False, "verify_nbf": False,
                                              "require": ["iss", "aud", "iat"]},
            )
        except jwt.InvalidAudienceError:
            found = unverified_claims(token).get("aud")
            raise AttestationError(
                f"the token was issued for audience {found!r}, not {audience!r} "
                "(it belongs to another event, or the event was changed)"
            ) from None
        except jwt.PyJWTError as exc:
            raise AttestationError(f"the token does not verify: {exc}") from None
        return dict(claims)
