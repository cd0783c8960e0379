"""The pages' signed cookies: good for their purpose and lifetime, refused when altered."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from xdm_connector.ui.sessions import KEY_FILE, LIFETIMES, Signer


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer(tmp_path / "home" / KEY_FILE)


def test_a_signed_document_comes_back_for_its_purpose_only(signer: Signer) -> None:
    value = signer.sign("session", {"c": "client", "t": "token", "i": True})

    assert signer.unsign("session", value) == {"c": "client", "t": "token", "i": True}
    assert signer.unsign("notice", value) is None
    assert signer.unsign("signin", value) is None


@pytest.mark.parametrize("purpose", sorted(LIFETIMES))
def test_a_cookie_past_its_lifetime_is_refused(
    signer: Signer, purpose: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = signer.sign(purpose, {"x": "csrf"})
    now = time.time()

    monkeypatch.setattr(time, "time", lambda: now + LIFETIMES[purpose] - 2)
    assert signer.unsign(purpose, value) == {"x": "csrf"}
    monkeypatch.setattr(time, "time", lambda: now + LIFETIMES[purpose] + 2)
    assert signer.unsign(purpose, value) is None


def test_an_altered_or_foreign_value_is_refused(signer: Signer, tmp_path: Path) -> None:
    value = signer.sign("session", {"c": "client"})
    head, rest = value.split(".", 1)
    other = Signer(tmp_path / "elsewhere" / KEY_FILE).sign("session", {"c": "client"})

    for forged in (f"{head}x.{rest}", value[:-1], other, "", "a.b", "a.b.c", "é.\x00.☃", "..."):
        assert signer.unsign("session", forged) is None
    assert signer.unsign("session", None) is None


def test_the_key_is_made_once_private_and_shared(signer: Signer, tmp_path: Path) -> None:
    value = signer.sign("notice", {"k": "ok", "m": "saved"})
    key = tmp_path / "home" / KEY_FILE

    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Signer(key).unsign("notice", value) == {"k": "ok", "m": "saved"}
    key.unlink()
    assert Signer(key).unsign("notice", value) is None
