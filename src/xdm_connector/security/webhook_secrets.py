"""The webhooks' signing secrets and signatures (Standard Webhooks).

A delivery carries three headers: ``webhook-id`` (the message's id, the same on every
attempt), ``webhook-timestamp`` (seconds since the epoch, at the attempt) and
``webhook-signature``, ``v1,`` then the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
keyed with the secret's bytes, the base64 part of ``whsec_...``::

    secret = key.secret(webhook.id, webhook.key_salt)          # 32 bytes
    encode_secret(secret)                                      # 'whsec_...' (shown once)
    sign(secret, "msg_2b...", 1767225600, body)               # 'v1,K5oZ...='

Secrets are not stored. Each is derived, with HMAC-SHA256, from the installation's webhook
key (32 random bytes in ``$XDMC_HOME/webhooks.key``, mode 0600, ``key_files.py``) and the
endpoint's id and random salt, which the store keeps; rotating draws a new salt. The store
alone gives no secret away, and every process that signs (server, worker) reads the same
key file: processes on several machines share it as they share the pages' session key.
The store keeps the key's id (a digest of it) with each endpoint, and a process whose key
differs never signs for that endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from xdm_connector.security.key_files import load_key, load_or_create_key

KEY_FILE = "webhooks.key"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not one
SIGNATURE_VERSION = "v1"


@dataclass(frozen=True)
class WebhookKey:
    """The installation's webhook key, from which every endpoint's secret is derived."""

    key: bytes

    @classmethod
    def of_home(cls, home: Path) -> WebhookKey:
        """The key of the installation at ``home``, made when missing (registration)."""
        return cls(load_or_create_key(home / KEY_FILE))

    @classmethod
    def existing(cls, home: Path) -> WebhookKey | None:
        """The key of the installation at ``home``, or None when there is none yet (a
        dispatcher never makes one: no endpoint can have been signed with it)."""
        key = load_key(home / KEY_FILE)
        return None if key is None else cls(key)

    @property
    def id(self) -> str:
        """A digest naming the key, kept with each endpoint (never the key itself)."""
        return hmac.new(self.key, b"xdmc webhook key id", hashlib.sha256).hexdigest()[:16]

    def secret(self, webhook_id: str, salt: str) -> bytes:
        """The signing secret of endpoint ``webhook_id`` with ``salt``: 32 bytes."""
        message = b"xdmc webhook secret\x00" + webhook_id.encode() + b"\x00" + salt.encode()
        return hmac.new(self.key, message, hashlib.sha256).digest()


def new_salt() -> str:
    """A fresh salt: a new secret for an endpoint (created or rotated)."""
    return secrets.token_hex(16)


def encode_secret(secret: bytes) -> str:
    """The secret as Standard Webhooks writes it: ``whsec_`` and its base64."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` of one attempt: ``v1,<base64 HMAC-SHA256>``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"
