"""config-service: runtime settings per stage behind an HTTP API (a `vault demo` service).

``GET /health`` and ``GET /config``. The stage comes from the function's own environment
variable ``STAGE``: the same bytes run everywhere, only the configuration differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

VERSION = json.loads(Path(__file__).with_name("version.json").read_text())["version"]


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Route an API Gateway HTTP API request."""
    path = event.get("rawPath", "/")
    if path == "/health":
        return respond(200, {"status": "ok", "service": "config-service", "version": VERSION})
    if path == "/config":
        stage = os.environ.get("STAGE", "unknown")
        return respond(200, {
            "stage": stage,
            "quote-cache-seconds": 0 if stage == "dev" else 30,
            "features": {"eu-listings": True},
        })
    return respond(404, {"error": f"no route for {path}"})


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A JSON response in the API Gateway proxy format."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
