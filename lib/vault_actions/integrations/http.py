"""The one place that builds plain HTTP sessions (Slack, smoke targets' helpers).

GitHub calls go through PyGithub with its ``GithubRetry`` (see ``github.py``), which
also understands GitHub's rate-limit headers.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "vault-actions"


def session(total: int = 4, backoff: float = 0.5) -> requests.Session:
    """A requests session that retries 429 and 5xx, bounded, honouring ``Retry-After``."""
    retry = Retry(
        total=total,
        backoff_factor=backoff,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    http = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    return http
