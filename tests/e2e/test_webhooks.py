"""Webhooks end to end: a real server process, killed (``SIGKILL``) as a job ends, and a
receiver on 127.0.0.1 that gets exactly one correctly signed ``job.ended`` per request.

The server is killed at one of two moments (``XDMC_FAULT_PAUSE_AT``):

- ``completed``: the destination accepted the job's batch, the store not told yet; the
  restarted server recovers the job (``Success``) and that transaction writes the event;
- ``webhook-leased``: the job has ended and its event is in the outbox, leased by the
  dispatcher that is killed before sending it; the restarted server sends it once the
  lease expires, with the webhook-id it was given when the job ended.
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.e2e.conftest import Installation, demo_credentials, token_for
from tests.webhook_receiver import Receiver

TIMEOUT_SECONDS = 120
FAST = {
    "XDMC_WEBHOOK_ALLOW_PRIVATE": "true",
    "XDMC_LEASE_SECONDS": "1.5",
    "XDMC_WEBHOOK_TIMEOUT_SECONDS": "1",
    "XDMC_WEBHOOK_POLL_SECONDS": "0.1",
    "XDMC_LOG_FORMAT": "text",
}


def _wait_for_file(installation: Installation, name: str) -> None:
    path = installation.home / "faults" / name
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not path.exists():
        assert time.monotonic() < deadline, f"{name} never appeared\n{installation.logs()}"
        time.sleep(0.05)


@pytest.mark.parametrize("stage", ["completed", "webhook-leased"])
def test_one_signed_delivery_per_request_though_the_server_is_killed(
    installation: Installation, stage: str
) -> None:
    installation.extra.update(FAST, XDMC_FAULT_PAUSE_AT=stage)
    doomed = installation.serve()
    client = token_for(installation.base_url, demo_credentials(installation))
    hooks = f"{installation.base_url}/demo/campaign/webhooks"
    with Receiver() as receiver:
        body = {"url": receiver.url, "events": ["job.ended"], "mapping": "XDM44"}
        created = httpx.post(hooks, json=body, headers=client.headers, timeout=30)
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        webhook_id = created.json()["id"]

        first = client.trigger("XDM44").json()["requestId"]
        _wait_for_file(installation, f"{stage}.paused")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
        assert receiver.received == []

        del installation.extra["XDMC_FAULT_PAUSE_AT"]
        installation.serve()
        client = token_for(installation.base_url, demo_credentials(installation))
        assert client.wait_until_done("XDM44", first)["status"] == "Success"
        [told] = receiver.wait_for(1, timeout=TIMEOUT_SECONDS)

        second = client.trigger("XDM44").json()["requestId"]
        assert client.wait_until_done("XDM44", second)["status"] == "Success"
        received = receiver.wait_for(2, timeout=TIMEOUT_SECONDS)

        deliveries = httpx.get(f"{hooks}/{webhook_id}/deliveries", headers=client.headers)
        assert deliveries.status_code == 200

    assert received[0] is told
    documents = [each.verified(secret) for each in received]
    assert [d["type"] for d in documents] == ["job.ended", "job.ended"]
    assert [d["data"]["requestId"] for d in documents] == [first, second]
    assert [d["data"]["status"] for d in documents] == ["Success", "Success"]
    assert documents[0]["data"]["numRecords"] == 10_000
    assert documents[0]["data"]["mapping"] == "XDM44"
    assert documents[0]["data"]["organization"] == "demo"
    status = client.status("XDM44", first).json()
    assert {key: documents[0]["data"][key] for key in status} == status
    # Each request was told once: one delivery each, sent by one attempt.
    content = deliveries.json()["content"]
    assert [d["messageId"] for d in reversed(content)] == [
        r.headers["webhook-id"] for r in received
    ]
    assert [(d["state"], len(d["attempts"])) for d in content] == [("delivered", 1)] * 2
    assert len(receiver.received) == 2, installation.logs()
