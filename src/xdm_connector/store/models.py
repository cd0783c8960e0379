"""Tables of the metadata store (SQLAlchemy 2 declarative models).

The jobs table is the work queue: a job in progress holds a lease, and a partial unique
index allows at most one job in progress per mapping, whatever the number of API processes
and workers (so that simultaneous triggers of a mapping create one job).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from xdm_connector.domain.job_states import IN_PROGRESS_STATES


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone; PostgreSQL keeps ``timestamptz``. Both answer aware datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


JsonDocument = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names for migrations."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JsonDocument,
        list[dict[str, Any]]: JsonDocument,
    }


class Organization(Base):
    """A tenant: the ``{ORGANIZATION}`` segment of every API path."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    source_url: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    destination: Mapped[dict[str, Any] | None]
    """Where its jobs deliver (``destinations/config.py``); the lake when null."""
    last_request_id: Mapped[int] = mapped_column(default=0, server_default="0")
    """The ``requestId`` of its latest job: each organization numbers its own requests."""


class SecurityGroup(Base):
    """A named set of roles inside an organization (``Administrators``, ...)."""

    __tablename__ = "security_groups"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(128))


class GroupRole(Base):
    """A role (``administration``, ``sql``) held by a security group."""

    __tablename__ = "group_roles"

    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("security_groups.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class Integration(Base):
    """An API client of one organization; its client id is also its API key."""

    __tablename__ = "integrations"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(128))
    secret_hash: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntegrationGroup(Base):
    """Membership of an integration in a security group."""

    __tablename__ = "integration_groups"

    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("integrations.client_id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("security_groups.id", ondelete="CASCADE"), primary_key=True
    )


class AccessToken(Base):
    """A bearer token, stored only as its SHA-256 digest."""

    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("integrations.client_id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime]


class Dataset(Base):
    """A destination table with an XDM schema (a class plus field groups)."""

    __tablename__ = "datasets"

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    schema_spec: Mapped[dict[str, Any]]
    lake_mode: Mapped[str] = mapped_column(sa.String(16), default="append")
    """How its table in the lake keeps records: ``append`` or ``upsert``
    (``domain/lake_modes.py``)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mapping(Base):
    """A data mapping: its editable definition and the published one that runs."""

    __tablename__ = "mappings"
    __table_args__ = (
        sa.ForeignKeyConstraint(["org_id", "dataset_id"], ["datasets.org_id", "datasets.id"]),
    )

    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(256))
    dataset_id: Mapped[str] = mapped_column(sa.String(128))
    definition: Mapped[dict[str, Any]]
    published_definition: Mapped[dict[str, Any] | None]
    publication_status: Mapped[str] = mapped_column(sa.String(16))
    execution_status: Mapped[str] = mapped_column(sa.String(16))
    interval_seconds: Mapped[int] = mapped_column(default=15 * 60)
    next_run_at: Mapped[datetime | None]
    watermark: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PublicationLogEntry(Base):
    """One line of a mapping's publication log (``ACP-880066 Starting ...``)."""

    __tablename__ = "publication_log"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"], ["mappings.org_id", "mappings.id"], ondelete="CASCADE"
        ),
        sa.Index(None, "org_id", "mapping_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[str] = mapped_column(sa.String(64))
    mapping_id: Mapped[str] = mapped_column(sa.String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(sa.String(16))
    code: Mapped[str] = mapped_column(sa.String(16))
    message: Mapped[str] = mapped_column(sa.Text)


_in_progress = sa.column("state").in_(sorted(state.value for state in IN_PROGRESS_STATES))


class Job(Base):
    """One run of a mapping: an API request, or a scheduled run.

    ``id`` is the store's own key, unique across organizations: workers, slices and logs
    use it, and no organization ever sees it. ``request_id`` is the job's number within its
    organization (1, 2, ...): the ``requestId`` of the API and the job's id on the pages,
    so that no tenant can count another's requests.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"], ["mappings.org_id", "mappings.id"], ondelete="CASCADE"
        ),
        # Invariant 1: the store, not Python, allows one job in progress per mapping.
        sa.Index(
            "uq_jobs_one_in_progress",
            "org_id",
            "mapping_id",
            unique=True,
            sqlite_where=_in_progress,
            postgresql_where=_in_progress,
        ),
        sa.Index(None, "org_id", "mapping_id", "id"),
        sa.Index(None, "state", "id"),
        sa.Index(None, "org_id", "request_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[str] = mapped_column(sa.String(64))
    request_id: Mapped[int]
    """The job's number within its organization (``Organization.last_request_id``)."""
    mapping_id: Mapped[str] = mapped_column(sa.String(128))
    trigger: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))
    batch_id: Mapped[str] = mapped_column(sa.String(128), default="")
    records_read: Mapped[int] = mapped_column(default=0)
    records_ingested: Mapped[int] = mapped_column(default=0)
    records_rejected: Mapped[int] = mapped_column(default=0)
    """Records the product refused (shaping, validation) and did not send."""
    records_refused: Mapped[int] = mapped_column(default=0)
    """Records sent that the destination refused (the platform's validation)."""
    records_deleted: Mapped[int] = mapped_column(default=0, server_default="0")
    """Keys deleted at the destination (the details' ``recordsDeleted``)."""
    lookback_dropped: Mapped[int] = mapped_column(default=0, server_default="0")
    """Versions the look-back forgot, narrowing (the details' ``lookbackDropped``)."""
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    window: Mapped[dict[str, Any] | None]
    details: Mapped[dict[str, Any] | None]
    attempt: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    uploaded_at: Mapped[datetime | None]
    """When the batch's files were all sent and the batch completed at the destination."""
    watermark: Mapped[dict[str, Any] | None]
    """The mapping's watermark once this job succeeds: kept before the batch completes, so
    that recovery can finish a job whose batch the destination accepted."""
    work_orders: Mapped[list[dict[str, Any]] | None]
    """The platform's work orders deleting the job's records, each recorded as soon as it
    is created (``{"id", "name", "identities"}``): followed, never created again."""


class JobSlice(Base):
    """One primary-key range of a sliced job: any worker claims it with its own lease and
    writes its rows into the job's batch; the job completes its batch when every slice is
    ``written`` (``store/slices.py``)."""

    __tablename__ = "job_slices"
    __table_args__ = (sa.Index(None, "state", "job_id", "number"),)

    job_id: Mapped[int] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    key_after: Mapped[dict[str, Any] | None]
    """The range's lower key, exclusive (``encode_value``); None: from the first key."""
    key_until: Mapped[dict[str, Any] | None]
    """The range's upper key, inclusive; None: to the last key."""
    mapping_digest: Mapped[str] = mapped_column(sa.String(64))
    """The mapping as the job planned it (published definition and watermark): a slice run
    against another (published again meanwhile) fails rather than mix two plans."""
    state: Mapped[str] = mapped_column(sa.String(16))
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_expires_at: Mapped[datetime | None]
    records_read: Mapped[int] = mapped_column(default=0)
    records_ingested: Mapped[int] = mapped_column(default=0)
    records_rejected: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None]
    """What the job gathers from the slice: samples and look-back versions, or its error."""
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]


class DeliveredRecord(Base):
    """A record the product delivered to a destination that keeps no table of its own to
    compare with (the platform): its key, its digest (``record_digests``) and its primary
    identity, which a work order deleting it names (``store/delivered_records.py``)."""

    __tablename__ = "delivered_records"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["org_id", "mapping_id"], ["mappings.org_id", "mappings.id"], ondelete="CASCADE"
        ),
    )

    org_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    mapping_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    record_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    """The record's ``_id``; the primary key's order is the reconciliation's key order."""
    digest: Mapped[str] = mapped_column(sa.String(32))
    namespace: Mapped[str | None] = mapped_column(sa.Text)
    identity: Mapped[str | None] = mapped_column(sa.Text)


class StagedRecord(Base):
    """A change a job in progress makes to its mapping's delivered records (a record sent,
    or ``deleted``), applied in the transaction of the job's ``Success`` and then dropped."""

    __tablename__ = "staged_records"

    job_id: Mapped[int] = mapped_column(
        sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    digest: Mapped[str | None] = mapped_column(sa.String(32))
    namespace: Mapped[str | None] = mapped_column(sa.Text)
    identity: Mapped[str | None] = mapped_column(sa.Text)
    deleted: Mapped[bool] = mapped_column(default=False)


class WorkerPresence(Base):
    """A worker process that runs, as it last said so: the coordinator of a large job cuts
    it into slices only when other workers are there to take them."""

    __tablename__ = "workers"

    owner: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)


class MaintenanceSlot(Base):
    """A periodic task of the workers (the lake's ``optimize``, ``vacuum``): when it is next
    due. A worker takes a slot by moving ``next_run_at`` on, conditionally, so one worker
    runs each slot however many share the store."""

    __tablename__ = "maintenance_slots"

    task: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_owner: Mapped[str | None] = mapped_column(sa.String(128))


class AuditEntry(Base):
    """One line of an organization's audit trail: who did what, to what, when."""

    __tablename__ = "audit_trail"
    __table_args__ = (sa.Index(None, "org_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[str] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    target: Mapped[str] = mapped_column(sa.String(256), default="")
    details: Mapped[dict[str, Any] | None]


class LoginFailure(Base):
    """A failed token request, kept for the token endpoint's sliding-window rate limit.

    ``subject`` is a digest of ``client:<id>`` or ``address:<ip>``: never the attempted
    value itself, which may be a secret pasted in the wrong field.
    """

    __tablename__ = "login_failures"
    __table_args__ = (sa.Index(None, "subject", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class Webhook(Base):
    """An endpoint an organization's administrators registered to be told of its events.

    Its signing secret is not stored: it is derived from the installation's webhook key
    and ``key_salt`` (``security/webhook_secrets.py``); ``key_id`` names the key it was
    derived from, so that a process holding another key never signs for it.
    """

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    org_id: Mapped[str] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.Text)
    events: Mapped[list[str]] = mapped_column(JsonDocument)
    mapping_id: Mapped[str | None] = mapped_column(sa.String(128))
    """Only this mapping's events; every mapping's when null."""
    key_id: Mapped[str] = mapped_column(sa.String(32))
    key_salt: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """The outbox: one event to send to one endpoint, written in the transaction of the
    change it tells of. ``message_id`` (the ``webhook-id`` header) and ``body`` are fixed
    then, so every attempt sends the same message; a dispatcher leases the row to send it."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("message_id", "webhook_id"),
        sa.Index(None, "state", "next_attempt_at"),
        sa.Index(None, "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    org_id: Mapped[str] = mapped_column(sa.String(64))
    message_id: Mapped[str] = mapped_column(sa.String(64))
    event_type: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[str] = mapped_column(sa.Text)
    """The JSON body exactly as sent (text, so that its bytes never change)."""
    state: Mapped[str] = mapped_column(sa.String(16))
    """``pending``, ``delivered`` or ``failed`` (given up)."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(128))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One attempt to send a delivery: the answer's status code, or why none came."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index(None, "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.Text, default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
