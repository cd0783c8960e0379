"""Webhook signatures as Standard Webhooks defines them, checked by its reference verifier
(the ``standardwebhooks`` package) and by the specification's own example."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from xdm_connector.security.webhook_secrets import WebhookKey, encode_secret, sign

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_example() -> None:
    secret = base64.b64decode(SPEC_SECRET.removeprefix("whsec_"))
    assert sign(secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_reference_verifier_accepts_a_signature_and_refuses_a_changed_body() -> None:
    key = WebhookKey(bytes(range(32)))
    secret = key.secret("wh_0123456789abcdef", "salt")
    body = b'{"type":"job.ended","timestamp":"2026-01-01T00:00:00Z","data":{"requestId":1}}'
    timestamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "msg_1", timestamp, body),
    }
    verifier = Webhook(encode_secret(secret))
    assert verifier.verify(body, headers) == {
        "type": "job.ended",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": {"requestId": 1},
    }
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"1}", b"2}"), headers)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body, {**headers, "webhook-id": "msg_2"})


def test_secrets_are_derived_per_endpoint_and_salt() -> None:
    key = WebhookKey(bytes(range(32)))
    first = key.secret("wh_a", "salt-1")
    assert len(first) == 32
    assert key.secret("wh_a", "salt-1") == first
    assert key.secret("wh_a", "salt-2") != first
    assert key.secret("wh_b", "salt-1") != first
    assert WebhookKey(bytes(32)).secret("wh_a", "salt-1") != first
    encoded = encode_secret(first)
    assert encoded.startswith("whsec_")
    assert base64.b64decode(encoded.removeprefix("whsec_")) == first
    # The key's id names it without giving it away.
    assert key.id == WebhookKey(bytes(range(32))).id != WebhookKey(bytes(32)).id
    assert bytes(range(32)).hex()[:16] not in key.id
