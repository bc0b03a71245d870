"""price-fetcher: price quotes for listed symbols behind an HTTP API (a `vault demo` service).

``GET /health`` and ``GET /price?symbol=ACME``. The build writes ``version.json`` beside
this file, so the running code can say which release it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VERSION = json.loads(Path(__file__).with_name("version.json").read_text())["version"]

# symbol -> (last price, exchange it is listed on)
LISTINGS = {
    "ACME": (12.34, "NYSE"),
    "GLOBEX": (47.5, "NASDAQ"),
    "SAP": (118.2, "XETRA"),
}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Route an API Gateway HTTP API request."""
    path = event.get("rawPath", "/")
    if path == "/health":
        return respond(200, {"status": "ok", "service": "price-fetcher", "version": VERSION})
    if path == "/price":
        return quote((event.get("queryStringParameters") or {}).get("symbol", ""))
    return respond(404, {"error": f"no route for {path}"})


def quote(symbol: str) -> dict[str, Any]:
    """The latest price of ``symbol``."""
    listing = LISTINGS.get(symbol.upper())
    if listing is None:
        return respond(404, {"error": f"unknown symbol {symbol!r}"})
    price, exchange = listing
    return respond(200, {
        "symbol": symbol.upper(),
        "price": f"{price:.2f}",
        "currency": "USD",
        "exchange": exchange,
    })


def respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """A JSON response in the API Gateway proxy format."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }
