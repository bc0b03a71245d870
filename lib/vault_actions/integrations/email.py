"""E-mail transports: Amazon SES (its ``sesv2`` client passed in) and SMTP (built here).

Both send one plain-text message; both raise what their library raises, for the caller
(``deliver/notify.py``) to turn into a warning.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from vault_actions.config import Smtp

TIMEOUT_SECONDS = 10


def send_ses(sesv2: Any, sender: str, to: Sequence[str], subject: str, body: str) -> str:
    """``SendEmail`` through SES v2 (the sender must be a verified identity); its MessageId."""
    response = sesv2.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": list(to)},
        Content={"Simple": {
            "Subject": {"Data": subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
        }},
    )
    return str(response["MessageId"])


def send_smtp(
    server: Smtp,
    sender: str,
    to: Sequence[str],
    subject: str,
    body: str,
    *,
    login: tuple[str, str] | None,
) -> None:
    """One message through ``server`` (STARTTLS, implicit TLS or, on localhost, plain)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message.set_content(body)
    context = ssl.create_default_context()
    connection: smtplib.SMTP
    if server.tls == "ssl":
        connection = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_SECONDS,
                                      context=context)
    else:
        connection = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
    with connection:
        if server.tls == "starttls":
            connection.starttls(context=context)
        if login is not None:
            connection.login(*login)
        connection.send_message(message)
