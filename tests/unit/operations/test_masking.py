"""No form of a secret is ever shown: masked in a text, and in every log line."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import secrets
from urllib.parse import quote, quote_plus

import markupsafe
import pytest

from xdm_connector.logs import JsonFormatter, TextFormatter
from xdm_connector.masking import mask_secrets, remember_secrets

NASTY = "Pw@/:?#%+ &='\"\\é€" + secrets.token_hex(6)


def _forms(secret: str) -> list[str]:
    """The ways a secret is written by drivers, URLs, logs and pages."""
    raw = secret.encode()
    percent = [quote(secret, safe=""), quote(secret, safe="/"), quote_plus(secret)]
    return [
        secret,
        *percent,
        *(re.sub("%[0-9A-F]{2}", lambda hexa: hexa.group(0).lower(), form) for form in percent),
        quote(secret, safe=" +"),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        secret.replace("\\", "\\\\").replace("'", "\\'"),
        str(markupsafe.escape(secret)),
    ]


def test_every_form_of_a_secret_is_masked() -> None:
    text = " | ".join(f"form {index}: {form}" for index, form in enumerate(_forms(NASTY)))

    masked = mask_secrets(text, [NASTY])

    assert masked.count("***") == len(_forms(NASTY))
    assert NASTY[-12:] not in masked
    for form in _forms(NASTY):
        assert form not in masked
    assert mask_secrets("nothing to hide", [NASTY, ""]) == "nothing to hide"


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter("%(message)s")])
def test_the_logs_never_carry_a_resolved_secret(formatter: logging.Formatter) -> None:
    secret = "log-" + NASTY
    remember_secrets([secret])
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"driver says: {quote(secret)}")
        except RuntimeError:
            logger.exception("failed with %s", secret)
    finally:
        logger.removeHandler(handler)

    assert "RuntimeError: driver says: ***" in written.getvalue().replace("\\n", "\n")
    assert secret[-12:] not in written.getvalue()
