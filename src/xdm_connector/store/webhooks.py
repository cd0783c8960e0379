"""Webhooks in the store: the endpoints, and the outbox of the events to send them.

An event is written to the outbox (``enqueue``) inside the transaction of the change it
tells of: a job's end (``store/jobs.py``: success, failure, abort, recovery, the reaper;
``services/cancellation.py``), a job's start (its claim) and a mapping's publication or
unpublication (``store/mappings.py``). One row per (event, endpoint): the change and its
deliveries commit together or not at all, and the row's ``message_id`` and ``body``, fixed
then, are what every attempt sends, whoever sends it and however often processes die.

Dispatchers (``services/webhook_delivery.py``) take rows the way workers take jobs: ``lease`` takes
due rows with ``FOR UPDATE SKIP LOCKED`` (SQLite: the writer's lock) and a lease that
expires, so no two processes send a row at once and a dead dispatcher's rows go out again
once their lease expires; ``record_attempt`` writes the attempt and the row's next state
only while its lease is held.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from xdm_connector.domain.request_status import status_body
from xdm_connector.errors import LeaseLost, NotFound
from xdm_connector.store.models import (
    Job,
    Mapping,
    Organization,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from xdm_connector.store.transactions import Transactions

ERROR_LENGTH = 500
"""The longest error an attempt keeps."""
WEBHOOKS_CHANNEL = "xdmc_webhooks"
"""The PostgreSQL ``NOTIFY`` channel that wakes the idle dispatchers (``jobs/notify.py``)."""


class WebhookEvent(StrEnum):
    """The events an endpoint may ask for."""

    JOB_ENDED = "job.ended"
    """A job ended ``Success``, ``Failed`` or ``Aborted`` (however it ended)."""
    JOB_STARTED = "job.started"
    """A worker started a job (API-triggered or scheduled)."""
    MAPPING_PUBLISHED = "mapping.published"
    MAPPING_UNPUBLISHED = "mapping.unpublished"


class DeliveryState(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: every attempt failed until the retry period ended."""


@dataclass(frozen=True)
class Leased:
    """A delivery a dispatcher holds, with what it needs to send it."""

    delivery: WebhookDelivery
    url: str
    key_salt: str


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery with its attempts, oldest attempt first."""

    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt got: an answer's status code, or an error; and what follows."""

    status_code: int | None
    error: str
    duration_ms: int
    state: DeliveryState
    next_attempt_at: datetime | None = None


def new_message_id() -> str:
    """A message id (``webhook-id``): ``msg_`` and 32 hexadecimal digits."""
    return f"msg_{secrets.token_hex(16)}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def enqueue(
    session: Session,
    org_id: str,
    event: WebhookEvent,
    data: dict[str, Any],
    *,
    mapping_id: str | None,
    at: datetime | None = None,
) -> str | None:
    """Write ``event`` for every endpoint of ``org_id`` that asked for it, in the
    transaction of ``session``; answers its message id, None when no endpoint wants it."""
    chosen = _subscribers(session, org_id, event, mapping_id)
    if not chosen:
        return None
    when = at or utcnow()
    message_id = new_message_id()
    body = orjson.dumps({"type": event.value, "timestamp": _iso(when), "data": data}).decode()
    session.add_all(
        WebhookDelivery(
            webhook_id=webhook_id,
            org_id=org_id,
            message_id=message_id,
            event_type=event.value,
            body=body,
            state=DeliveryState.PENDING,
            attempts=0,
            next_attempt_at=when,
            created_at=when,
        )
        for webhook_id in chosen
    )
    if session.get_bind().dialect.name == "postgresql":
        # Sent in the change's transaction: it arrives on commit, when the rows can be read.
        session.execute(sa.select(sa.func.pg_notify(WEBHOOKS_CHANNEL, "")))
    return message_id


def _subscribers(
    session: Session, org_id: str, event: WebhookEvent, mapping_id: str | None
) -> list[str]:
    """The endpoints of ``org_id`` that asked for ``event`` (of ``mapping_id``)."""
    rows = session.execute(
        sa.select(Webhook.id, Webhook.events, Webhook.mapping_id).where(Webhook.org_id == org_id)
    ).all()
    return [
        webhook_id
        for webhook_id, events, only in rows
        if event.value in events and (only is None or only == mapping_id)
    ]


def job_event_data(job: Job) -> dict[str, Any]:
    """A ``job.*`` event's data: the ingestion API's status body of the job's request, then
    its organization, mapping, trigger, counts and times."""
    return {
        **status_body(job),
        "organization": job.org_id,
        "mapping": job.mapping_id,
        "trigger": job.trigger,
        "recordsRead": job.records_read,
        "recordsIngested": job.records_ingested,
        "recordsRejected": job.records_rejected,
        "createdAt": _iso(job.created_at),
        "startedAt": None if job.started_at is None else _iso(job.started_at),
        "endedAt": None if job.ended_at is None else _iso(job.ended_at),
    }


def enqueue_job_event(session: Session, job_id: int, event: WebhookEvent) -> str | None:
    """``enqueue`` the ``job.*`` event of job ``job_id`` as this transaction leaves it."""
    # The job itself (its watermark and details are JSON that grows with the look-back) is
    # read only when an endpoint wants the event: a job starts and ends in the same
    # transactions as its events.
    owner = session.execute(sa.select(Job.org_id, Job.mapping_id).where(Job.id == job_id)).first()
    if owner is None or not _subscribers(session, owner.org_id, event, owner.mapping_id):
        return None
    job = session.scalar(
        sa.select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    )
    if job is None:
        return None
    return enqueue(session, job.org_id, event, job_event_data(job), mapping_id=job.mapping_id)


def enqueue_mapping_event(session: Session, mapping: Mapping, event: WebhookEvent) -> str | None:
    """``enqueue`` a ``mapping.*`` event of ``mapping`` as this transaction leaves it."""
    data = {
        "organization": mapping.org_id,
        "mapping": mapping.id,
        "dataset": mapping.dataset_id,
        "publicationStatus": mapping.publication_status,
        "executionStatus": mapping.execution_status,
    }
    return enqueue(session, mapping.org_id, event, data, mapping_id=mapping.id)


class Webhooks:
    """Endpoints, their deliveries and attempts; the dispatchers' leases."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def create(
        self,
        org_id: str,
        *,
        url: str,
        events: Sequence[str],
        mapping_id: str | None,
        key_id: str,
        key_salt: str,
    ) -> Webhook:
        """A new endpoint of ``org_id``."""
        with self._store.write() as session:
            if session.get(Organization, org_id) is None:
                raise NotFound(f"unknown organization {org_id}")
            webhook = Webhook(
                id=f"wh_{secrets.token_hex(8)}",
                org_id=org_id,
                url=url,
                events=list(events),
                mapping_id=mapping_id,
                key_id=key_id,
                key_salt=key_salt,
                created_at=utcnow(),
            )
            session.add(webhook)
            return webhook

    def list_for_org(self, org_id: str) -> list[Webhook]:
        """The organization's endpoints, oldest first."""
        with self._store.read() as session:
            query = (
                sa.select(Webhook)
                .where(Webhook.org_id == org_id)
                .order_by(Webhook.created_at, Webhook.id)
            )
            return list(session.scalars(query))

    def get(self, org_id: str, webhook_id: str) -> Webhook:
        """The endpoint, or ``NotFound`` (another organization's too)."""
        with self._store.read() as session:
            return self._get(session, org_id, webhook_id)

    def rotate(self, org_id: str, webhook_id: str, *, key_id: str, key_salt: str) -> Webhook:
        """Give the endpoint a new salt (so a new secret)."""
        with self._store.write() as session:
            webhook = self._get(session, org_id, webhook_id)
            webhook.key_id = key_id
            webhook.key_salt = key_salt
            webhook.rotated_at = utcnow()
            return webhook

    def delete(self, org_id: str, webhook_id: str) -> None:
        """Remove the endpoint with its deliveries."""
        with self._store.write() as session:
            webhook = self._get(session, org_id, webhook_id)
            session.delete(webhook)

    def deliveries(self, org_id: str, webhook_id: str, *, limit: int = 50) -> list[DeliveryRecord]:
        """The endpoint's latest deliveries, newest first, each with its attempts."""
        with self._store.read() as session:
            self._get(session, org_id, webhook_id)
            deliveries = list(
                session.scalars(
                    sa.select(WebhookDelivery)
                    .where(WebhookDelivery.webhook_id == webhook_id)
                    .order_by(WebhookDelivery.id.desc())
                    .limit(limit)
                )
            )
            attempts: dict[int, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
            if deliveries:
                for attempt in session.scalars(
                    sa.select(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id.in_(list(attempts)))
                    .order_by(WebhookAttempt.id)
                ):
                    attempts[attempt.delivery_id].append(attempt)
        return [DeliveryRecord(d, attempts[d.id]) for d in deliveries]

    def lease(
        self, owner: str, key_id: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Leased]:
        """Take up to ``limit`` due deliveries of the endpoints signed with key ``key_id``:
        pending, their next attempt due, and not held by a live lease."""
        with self._store.write() as session:
            rows = session.execute(
                sa.select(WebhookDelivery, Webhook.url, Webhook.key_salt)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    sa.or_(
                        WebhookDelivery.lease_expires_at.is_(None),
                        WebhookDelivery.lease_expires_at < now,
                    ),
                    Webhook.key_id == key_id,
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            ).all()
            for delivery, _url, _salt in rows:
                delivery.lease_owner = owner
                delivery.lease_expires_at = now + lease
            return [Leased(delivery, url, salt) for delivery, url, salt in rows]

    def record_attempt(self, delivery_id: int, owner: str, result: AttemptResult) -> None:
        """Write an attempt and the delivery's next state; ``LeaseLost`` when ``owner`` no
        longer holds the delivery (its lease expired and another dispatcher took it)."""
        now = utcnow()
        values: dict[str, Any] = {
            "state": result.state,
            "attempts": WebhookDelivery.attempts + 1,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if result.state is DeliveryState.PENDING and result.next_attempt_at is not None:
            values["next_attempt_at"] = result.next_attempt_at
        else:
            values["ended_at"] = now
        with self._store.write() as session:
            updated = session.execute(
                sa.update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.lease_owner == owner,
                    WebhookDelivery.state == DeliveryState.PENDING,
                )
                .values(**values)
            )
            if not getattr(updated, "rowcount", 0):
                raise LeaseLost(f"webhook delivery {delivery_id} is no longer held by {owner}")
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    at=now,
                    status_code=result.status_code,
                    error=result.error[:ERROR_LENGTH],
                    duration_ms=result.duration_ms,
                )
            )

    def prune(self, ended_before: datetime) -> int:
        """Delete the deliveries that ended (delivered or given up) before ``ended_before``,
        with their attempts; never a pending one. Answers how many went."""
        with self._store.write() as session:
            deleted = session.execute(
                sa.delete(WebhookDelivery).where(
                    WebhookDelivery.state != DeliveryState.PENDING,
                    WebhookDelivery.ended_at < ended_before,
                )
            )
            return int(getattr(deleted, "rowcount", 0))

    @staticmethod
    def _get(session: Session, org_id: str, webhook_id: str) -> Webhook:
        webhook = session.get(Webhook, webhook_id)
        if webhook is None or webhook.org_id != org_id:
            raise NotFound(f"unknown webhook {webhook_id}")
        return webhook
