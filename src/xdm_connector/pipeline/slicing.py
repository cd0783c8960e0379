"""Slices: a large job's window cut by primary-key ranges that several workers export
into one batch.

The worker holding the job (its coordinator) reads the keys that cut the window into
ranges of ``XDMC_SLICE_ROWS`` rows, creates the batch, records the ranges as slices
(``store/slices.py``) and wakes the other workers. Every worker, the coordinator first,
claims a pending slice, set up as a whole job is (``pipeline/setup.py``), extracts its rows
(``pipeline/extraction.py``), puts its files into the batch under names of its own
(``slice-00003-part-00000.parquet``, ``pipeline/delivery.py``) and marks it written with
its counts. When every slice is written, the coordinator adds up the counts and the
look-back's versions, then completes the batch as for any job; the watermark still moves
only with the job's ``Success``.

A slice that fails fails the job with the slice's error. A slice whose worker is lost (its
lease expired, or its worker certainly gone: ``workers_gone``, the evidence of
``jobs/liveness.py``) is recovered by any worker's reaper or by the coordinator while it
waits (``store/slices.py``): one that had put nothing into the batch is claimed again and
run anew; one that was sending its files aborts the job, as a job whose own worker is gone
is aborted (its batch is aborted and the next run exports the window again), since the
files it may have put cannot be told from the ones it would put again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from xdm_connector.domain.windows import (
    KeyRange,
    Window,
    decode_value,
    encode_value,
    window_from_document,
)
from xdm_connector.errors import (
    DestinationError,
    ExportError,
    LeaseLost,
    SourceError,
    XdmcError,
)
from xdm_connector.logs import bind_log_context
from xdm_connector.pipeline.control import JobAborted, JobControl, keep_alive
from xdm_connector.pipeline.counts import RecordCounts
from xdm_connector.pipeline.delivered_records import stage
from xdm_connector.pipeline.delivery import Delivery
from xdm_connector.pipeline.extraction import Extracted, extract
from xdm_connector.pipeline.lookback import LookBack
from xdm_connector.pipeline.plan import ExportPlan
from xdm_connector.pipeline.setup import JobContext, JobSetup
from xdm_connector.pipeline.source_retries import DETAILS_KEY, SourceRetries
from xdm_connector.sources.database import SourceDatabase
from xdm_connector.store.models import Job, JobSlice, Mapping, utcnow
from xdm_connector.store.slices import LOST_KIND, SliceOutcome
from xdm_connector.store.store import Store

log = logging.getLogger(__name__)

WAIT_SECONDS = 0.1
"""How often a coordinator with no slice left to take looks at the others' progress."""
LOST_CHECK_SECONDS = 1.0
"""How often a waiting coordinator looks for slices whose worker was lost."""
INTERNAL_ERROR = "XDMC-500 A slice of the export failed on an internal error; see the worker's log."


def slice_ranges(
    source: SourceDatabase, plan: ExportPlan, window: Window, rows_per_slice: int
) -> list[KeyRange]:
    """The key ranges of the window's slices; none when it has at most ``rows_per_slice``
    rows (or slicing is off).

    Integer keys are cut by value, into ranges of equal width (one cheap query: the
    window's count and key bounds); other keys at every ``rows_per_slice``-th row.
    """
    if rows_per_slice <= 0:
        return []
    with source.translated_errors(), source.engine.connect() as connection:
        stats = connection.execute(plan.key_stats_query(window)).one()
        rows, lowest, highest = int(stats[0] or 0), stats[1], stats[2]
        if rows <= rows_per_slice:
            return []
        if isinstance(lowest, int) and isinstance(highest, int):
            cuts = _even_cuts(lowest, highest, -(-rows // rows_per_slice))
        else:
            query = plan.slice_keys_query(window, rows_per_slice, rows)
            cuts = list(connection.execute(query).scalars())
    if not cuts:
        return []
    lows: list[Any] = [None, *cuts]
    highs: list[Any] = [*cuts, None]
    return [KeyRange(after=low, until=high) for low, high in zip(lows, highs, strict=True)]


def _even_cuts(lowest: int, highest: int, parts: int) -> list[int]:
    """The upper keys of the first ``parts - 1`` of ``parts`` equal ranges of
    ``[lowest, highest]`` (fewer when the span is narrower than ``parts``)."""
    span = highest - lowest + 1
    cuts = {lowest - 1 + -(-span * part // parts) for part in range(1, parts)}
    return sorted(cut for cut in cuts if lowest <= cut < highest)


def mapping_digest(mapping: Mapping) -> str:
    """What a slice must find unchanged to run as its job planned: the published definition
    and the watermark (a publication with ``resend`` resets it)."""
    planned = {"definition": mapping.published_definition, "watermark": mapping.watermark}
    text = json.dumps(planned, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _gather_retries(pieces: list[JobSlice], retries: SourceRetries) -> None:
    """Add the source retries of the job's slices (written or failed) to the job's."""
    for piece in pieces:
        result = piece.result or {}
        error = result.get("error")
        retries.merge(result.get(DETAILS_KEY))
        if isinstance(error, dict):
            retries.merge(error.get(DETAILS_KEY))


class SliceRunner:
    """Exports the slices of jobs into their batches: those a worker claims of another
    worker's job (``run``), and, for the job it holds, all it can take while it waits for
    the others (``coordinate``). Each slice is set up as a whole job is (``setup``)."""

    def __init__(self, setup: JobSetup) -> None:
        self.setup = setup
        self.workers_gone: Callable[[str], bool] = lambda _owner: False
        """Whether the worker of that name is certainly gone before its lease runs out;
        never, unless the worker running this says (``jobs/worker.py``): leases alone."""

    def run(self, piece: JobSlice, control: JobControl) -> SliceOutcome:
        """Read, shape, check and write the slice's rows and put its files into the batch;
        raises ``ExportError`` or ``JobAborted`` (lost slice, job ended, shutdown).

        A read that fails transiently is read again (``pipeline/source_retries.py``): the
        retries go into the outcome's result, or, when the slice fails, into
        ``control.source_retries``.
        """
        setup = self.setup
        log.info("slice %s of job %s started", piece.number, piece.job_id)
        job = setup.store.jobs.get_by_id(piece.job_id)
        bind_log_context(org=job.org_id, mapping=job.mapping_id, job=job.id, batch=job.batch_id)
        context = setup.context(job)
        if mapping_digest(context.mapping) != piece.mapping_digest:
            raise ExportError(
                "the mapping was published again while its job ran; the next run uses it",
                code="ACP-880185",
            )
        if job.window is None or not job.batch_id:
            raise ExportError(f"job {job.id} has no window or batch for its slices")
        window = window_from_document(job.window)
        keys = KeyRange(_decode_key(piece.key_after), _decode_key(piece.key_until))
        workdir = setup.work.of_slice(job.id, piece.number)
        control.batch_id = control.batch_id or job.batch_id
        retries = SourceRetries()
        try:
            with (
                self._kept_alive(piece, control),
                setup.running(job, context, control, workdir) as run,
            ):

                def extract_keys(
                    source: SourceDatabase, plan: ExportPlan, lookback: LookBack
                ) -> tuple[LookBack, Extracted]:
                    lookback.plan_cutoff(window.until)
                    extracted = extract(setup.settings, run, source, plan, window, lookback, keys)
                    return lookback, extracted

                what = f"slice {piece.number} of job {job.id}"
                lookback, extracted = setup.read(run, extract_keys, retries=retries, what=what)
                try:
                    setup.store.slices.sending(piece, control.owner)
                except LeaseLost as exc:  # recovered meanwhile: another worker runs it
                    raise JobAborted(job.batch_id) from exc
                delivery = Delivery(setup.store, setup.settings, run)
                prefix = f"slice-{piece.number:05d}-"
                delivery.put(job.batch_id, extracted.files, prefix=prefix)
                delivery.put_deletes(job.batch_id, extracted.deletes, prefix=prefix)
                if delivery.work_orders is not None:
                    # The job's delivery sends every slice's deletes, once, from the store.
                    stage(setup.store, job.id, extracted.entries, extracted.deletes, replace=False)
        except XdmcError as exc:
            if isinstance(exc, DestinationError):
                exc.batch_id = exc.batch_id or job.batch_id
            control.source_retries.merge(retries.document())
            raise
        counts = extracted.counts
        log.info("slice %s of job %s written: %s records", piece.number, job.id, counts.ingested)
        return SliceOutcome(
            records_read=counts.read,
            records_ingested=counts.ingested,
            records_rejected=counts.rejected,
            result={
                "samples": counts.samples,
                "skipped": counts.skipped,
                "deleted": counts.deleted,
                "lookback": lookback.recent_document(),
                **({DETAILS_KEY: retries.document()} if retries.count else {}),
            },
        )

    def coordinate(
        self,
        job: Job,
        context: JobContext,
        ranges: list[KeyRange],
        lookback: LookBack,
        control: JobControl,
    ) -> RecordCounts:
        """Coordinate the job's slices into its batch (already created and recorded): take
        part, wait for the others, and answer the job's counts; the look-back takes in every
        slice's versions."""
        store = self.setup.store
        store.slices.create(
            job.id,
            control.owner,
            [(_encode_key(keys.after), _encode_key(keys.until)) for keys in ranges],
            mapping_digest=mapping_digest(context.mapping),
        )
        log.info("job %s is cut into %d slices", job.id, len(ranges))
        lease = timedelta(seconds=self.setup.settings.lease_seconds)
        looked_at = -float("inf")
        while True:
            control.check()
            piece = store.slices.claim(control.owner, lease, utcnow(), job_id=job.id)
            if piece is not None:
                # This worker's own slices share the job's control: losing either stops both.
                outcome = self.run(piece, control)
                store.slices.finish(piece, control.owner, outcome)
                continue
            if time.monotonic() - looked_at >= LOST_CHECK_SECONDS:
                looked_at = time.monotonic()
                if self.recover_lost(control.owner, job.id):
                    continue  # a lost slice is pending again: claim it
            progress = store.slices.progress(job.id)
            if progress.failed:
                _gather_retries(store.slices.of_job(job.id), control.source_retries)
                raise error_from(progress.failed[0].result, control.batch_id)
            if progress.done:
                break
            control.abort.wait(WAIT_SECONDS)
        counts = RecordCounts()
        pieces = store.slices.of_job(job.id)
        _gather_retries(pieces, control.source_retries)
        for piece in pieces:
            result = piece.result or {}
            counts.add(
                RecordCounts(
                    read=piece.records_read,
                    ingested=piece.records_ingested,
                    rejected=piece.records_rejected,
                    skipped=int(result.get("skipped", 0)),
                    deleted=int(result.get("deleted", 0)),
                    samples=list(result.get("samples", [])),
                )
            )
            lookback.merge_recent(result.get("lookback") or {})
        return counts

    def recover_lost(self, owner: str, job_id: int) -> bool:
        """Recover, as ``owner``, the slices of the job whose worker was lost; answers
        whether any is pending again."""
        return recover_lost_slices(self.setup.store, owner, self.workers_gone, job_id=job_id)

    def _job_holder_gone(self, piece: JobSlice, owner: str) -> bool:
        """Whether the worker holding the slice's job (another than ``owner``) is certainly
        gone: the job is lost, and so is the slice's work."""
        holder = self.setup.store.jobs.get_by_id(piece.job_id).lease_owner
        if holder is None or holder == owner or not self.workers_gone(holder):
            return False
        log.warning(
            "job %s: its worker %s is gone; slice %s stops", piece.job_id, holder, piece.number
        )
        return True

    @contextmanager
    def _kept_alive(self, piece: JobSlice, control: JobControl) -> Iterator[None]:
        """Heartbeat the slice's lease while it runs; stop it (``control.abort``) once the
        worker no longer holds it, its job ended, or the job's worker is certainly gone (so
        that this worker's next turn recovers the job, not after the slice)."""
        slices = self.setup.store.slices
        lease_seconds = self.setup.settings.lease_seconds
        lease = timedelta(seconds=lease_seconds)
        done = threading.Event()
        thread = threading.Thread(
            target=keep_alive,
            args=(control, done),
            kwargs={
                "lease_seconds": lease_seconds,
                "extend": lambda: slices.heartbeat(piece, control.owner, lease),
                "holds": lambda: (
                    slices.holds(piece, control.owner)
                    and not self._job_holder_gone(piece, control.owner)
                ),
                "what": f"slice {piece.number} of job {piece.job_id}",
            },
            name=f"xdmc-slice-{piece.job_id}-{piece.number}",
            daemon=True,
        )
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def recover_lost_slices(
    store: Store, owner: str, gone: Callable[[str], bool], *, job_id: int | None = None
) -> bool:
    """Recover, as ``owner``, the slices (of ``job_id`` only, when given) whose lease
    expired or whose worker is ``gone`` (``store/slices.py``), and say so in the log;
    answers whether any is pending again."""
    lost = store.slices.recover_lost(owner, utcnow(), gone, job_id=job_id)
    for piece in lost:
        ending = "it runs again" if piece.released else "its job is aborted"
        log.warning(
            "slice %s of job %s: its worker %s is gone; %s",
            piece.number,
            piece.job_id,
            piece.owner,
            ending,
        )
    return any(piece.released for piece in lost)


def error_document(exc: ExportError | None, retries: SourceRetries | None = None) -> dict[str, Any]:
    """A slice's error as its job records it (None: an internal error, in the log), with
    the slice's source ``retries``."""
    if retries is not None and retries.count:
        return {**error_document(exc), DETAILS_KEY: retries.document()}
    if exc is None:
        return {"kind": "internal", "code": "XDMC-500", "message": INTERNAL_ERROR}
    kind = (
        "source"
        if isinstance(exc, SourceError)
        else "destination"
        if isinstance(exc, DestinationError)
        else "export"
    )
    return {"kind": kind, "code": exc.code, "message": exc.message, "transient": exc.transient}


def aborted_document() -> dict[str, Any]:
    """The error of a slice its worker stopped (shutdown past its grace period)."""
    return {"kind": "aborted", "code": JobAborted.code, "message": "the slice was aborted"}


def error_from(result: dict[str, Any] | None, batch_id: str) -> XdmcError:
    """The error a failed slice ends its job with."""
    error = (result or {}).get("error") or error_document(None)
    message, transient = str(error.get("message", "")), bool(error.get("transient"))
    kind = error.get("kind")
    if kind == LOST_KIND:
        log.warning("%s; the job is aborted", message)
        return JobAborted(batch_id)
    match kind:
        case "aborted":
            return JobAborted(batch_id)
        case "source":
            return SourceError(message, transient=transient)
        case "destination":
            return DestinationError(message, batch_id=batch_id, transient=transient)
        case _:
            return ExportError(message, code=error.get("code") or None, transient=transient)


def _encode_key(key: Any) -> dict[str, Any] | None:
    return None if key is None else encode_value(key)


def _decode_key(document: dict[str, Any] | None) -> Any:
    return None if document is None else decode_value(document)
