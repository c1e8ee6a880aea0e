"""A registry daemon's link to etcd: publish its entries, mirror everyone's.

`ClusterLink` is asyncio glue around two pure parts: the daemon's
`DesiredKeys` (what its store holds, as `ClusterRecord` s, and how far etcd
has them) and the `ClusterView` mirrored from an etcd watch. One task
supervises etcd *sessions*; each session is:

1. connect to the next endpoint and take a new lease (TTL ≤ 5 s);
2. publish every local entry under that lease and delete this daemon's keys
   that are no longer local (`DesiredKeys.republish` from a snapshot), then
   revoke the previous lease (the keys still on it are entries released
   while etcd was away);
3. resume the watch from the last revision + 1 (after compaction, or when
   etcd's revision went backwards, resync in full from a snapshot);
4. run, until one of them fails, the lease keepalive (every TTL/3, on a
   connection of its own, so that it never waits behind pipelined changes),
   the publisher (local changes → puts and deletes, pipelined, in order)
   and the watch consumer (etcd events → view → the daemon's watchers).

While no session runs the view is *stale*: it keeps what it last knew, and
`status` says so; local work is unaffected. Sessions are retried over the
endpoints after the delays of `SESSION_RETRY` (the package's one retry
policy, `mountcomm.net.retry`): every failed session waits the next delay, and
a session that ran starts the backoff afresh.
"""

from __future__ import annotations

__all__ = ["MAX_IN_FLIGHT", "SESSION_RETRY", "ClusterLink", "Publisher"]

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ... import log as mlog
from ..._lifecycle import AsyncResource
from ...net.retry import RetryPolicy
from ..entries import PortEntry, PortEvent, Query
from ..native import ClusterStatus
from .desired import DesiredKeys
from .errors import EtcdRequestError, EtcdUnavailable, RevisionCompacted
from .etcd import EtcdSession, Watch
from .http import authority
from .settings import ClusterSettings
from .view import ClusterView

EventSink = Callable[[Sequence[PortEvent]], None]

SESSION_RETRY = RetryPolicy(0.05, factor=2, maximum=2.0, jitter=0.2)
"""Delays between etcd sessions: 50 ms doubling up to 2 s, with jitter [s]."""


_FAILURES = (EtcdUnavailable, EtcdRequestError, OSError, TimeoutError)
"""How an etcd session fails; any other exception is a bug (logged, and the link goes on)."""


class ClusterLink(AsyncResource):
    """Publish a daemon's entries to etcd and mirror the cluster's.

    Parameters
    ----------
    settings : `ClusterSettings`
        Where etcd is, lease TTL, key prefix.
    advertise_host : `str`
        The host written in this daemon's records (where its ports are reachable).
    local_entries : callable () -> `list` [`PortEntry`]
        The daemon's current entries (its store), read when a session starts.
    on_events : callable (events) -> None
        Receives the view's changes (other daemons' entries added or removed).
    daemon_id : `str`, optional
        This daemon's id in its records; random by default.
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Attributes
    ----------
    view : `ClusterView`
        The mirrored records of the other daemons.
    keys : `DesiredKeys`
        What this daemon wants etcd to hold, and how far etcd has it.
    stale : `bool`
        True while no etcd session runs (before the first, or after a failure).

    Notes
    -----
    `close` (idempotent) stops the sessions, then revokes the lease (so that
    other daemons drop this one's entries at once) and closes the etcd client.
    Not thread-safe: use it from its event loop only.
    """

    def __init__(
        self,
        settings: ClusterSettings,
        advertise_host: str,
        *,
        local_entries: Callable[[], list[PortEntry]],
        on_events: EventSink,
        daemon_id: str | None = None,
        log: Any = None,
    ) -> None:
        self.settings = settings
        self.advertise_host = advertise_host
        self.daemon_id = daemon_id or os.urandom(8).hex()
        self.local_entries = local_entries
        self.on_events = on_events
        self.log = mlog.get_logger(log, "ClusterLink", daemon=self.daemon_id)
        self.view = ClusterView(self.daemon_id)
        self.stale = True
        self.stale_since: float | None = time.time()
        self.last_error: str | None = "not connected yet"
        self.sessions = 0
        self.resyncs = 0
        self.keys = DesiredKeys(settings.prefix, advertise_host, self.daemon_id)
        self._publisher: Publisher | None = None
        self._connected = asyncio.Event()
        self._stale = asyncio.Event()
        self._stale.set()
        self._published = asyncio.Event()
        self._endpoint = 0
        self._lease_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # ---- what the daemon calls --------------------------------------------------

    async def start(self) -> None:
        """Start the session supervisor (idempotent; returns at once)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._supervise(), name="ClusterLink")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a session runs (the view is not stale).

        Raises
        ------
        TimeoutError
            If none does within ``timeout`` [s].
        """
        await _until(self._connected, timeout)

    async def wait_stale(self, timeout: float | None = None) -> None:
        """Wait until the view is stale (no etcd session runs).

        Raises
        ------
        TimeoutError
            If it is not within ``timeout`` [s].
        """
        await _until(self._stale, timeout)

    async def wait_published(self, timeout: float | None = None) -> None:
        """Wait until etcd holds every local change made so far.

        Raises
        ------
        TimeoutError
            If it does not within ``timeout`` [s] (e.g. etcd is away).
        """
        await _until(self._published, timeout)

    def local_changed(self, events: Sequence[PortEvent]) -> None:
        """The daemon's store changed: publish the change (in order, at once).

        While a session runs, the change is written to etcd before this
        returns (pipelined after the earlier ones; etcd applies them in
        order); otherwise it waits for the next session.
        """
        if not events:
            return
        self.keys.change(events, time.time())
        self._published.clear()
        if self._publisher is not None:
            self._publisher.send()

    def entries(self, local: list[PortEntry], query: Query | None = None) -> list[PortEntry]:
        """The merged view: ``local`` (the daemon's, already filtered) and the others'."""
        return sorted([*local, *self.view.entries(query)])

    def status(self) -> ClusterStatus:
        """The link's state, for the daemon's ``status`` reply."""
        return ClusterStatus(
            endpoints=self.settings.url,
            endpoint=authority(*self.settings.endpoints[self._endpoint]),
            stale=self.stale,
            stale_since=self.stale_since,
            error=self.last_error,
            daemon=self.daemon_id,
            advertise_host=self.advertise_host,
            lease=None if self._lease_id is None else f"{self._lease_id:x}",
            ttl=self.settings.ttl,
            revision=self.view.revision,
            published=len(self.keys.records),
            unpublished=self.keys.unsent + self.keys.in_flight,
            remote_entries=len(self.view),
            sessions=self.sessions,
            resyncs=self.resyncs,
        )

    async def close(self) -> None:
        """Stop, revoke the lease, close the client (idempotent; never raises)."""
        task = self._task
        if not self._closed:
            self._closed = True
            if task is not None:
                task.cancel()
        self._connected.clear()
        if task is not None:
            # asyncio.wait: a cancellation of the caller propagates; the task's own does not
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                self.log.error("cluster_link_failed", error=repr(task.exception()))

    # ---- sessions ---------------------------------------------------------------

    def _set_stale(self, error: str | None) -> None:
        """The view is stale because of ``error``, or (`None`) a session runs."""
        if error is None:
            self.sessions += 1
            self.stale_since = None
            self._stale.clear()
            self._connected.set()
        else:
            if not self.stale:
                self.stale_since = time.time()
                self.log.warning("cluster_stale", error=error)
            self._connected.clear()
            self._stale.set()
        self.stale, self.last_error = error is not None, error

    async def _supervise(self) -> None:
        delays = SESSION_RETRY.delays()
        try:
            while True:
                ran = self.sessions
                session = self._new_session()
                try:
                    await self._run_session(session)
                except _FAILURES as e:
                    self._set_stale(f"{session.target}: {e}")
                except Exception as e:  # a bug must not end the link: log it, start again
                    self.log.exception("cluster_session_failed")
                    self._set_stale(f"{session.target}: {type(e).__name__}: {e}")
                finally:
                    await session.close()
                if self.sessions != ran:
                    delays = SESSION_RETRY.delays()  # that session ran: start the backoff again
                self._endpoint = (self._endpoint + 1) % len(self.settings.endpoints)
                await asyncio.sleep(next(delays))
        finally:
            await self._revoke_on_close()

    async def _revoke_on_close(self) -> None:
        """Revoke the lease on a fresh session, bounded; log a failure."""
        lease, self._lease_id = self._lease_id, None
        if lease is None:
            return
        async with self._new_session() as session:
            try:
                await asyncio.wait_for(session.revoke(lease), self.settings.op_timeout)
            except _FAILURES as e:
                self.log.info("lease_not_revoked", lease=f"{lease:x}", error=str(e))

    def _new_session(self) -> EtcdSession:
        return EtcdSession(self.settings, *self.settings.endpoints[self._endpoint])

    async def _run_session(self, session: EtcdSession) -> None:
        old_lease = self._lease_id
        self._lease_id = lease = await session.grant(self.settings.ttl)
        publisher = Publisher(self.keys, session, lease, on_settled=self._published.set)
        try:
            await self._republish(session, publisher)
            if old_lease is not None:
                await session.revoke(old_lease)  # keys left on it were released meanwhile
            watch = await self._open_watch(session)
            self._set_stale(None)
            self.log.info("cluster_connected", endpoint=session.target, lease=f"{lease:x}")
            tasks = [
                asyncio.create_task(self._keepalive(session), name="ClusterLink.keepalive"),
                asyncio.create_task(self._consume(session, watch), name="ClusterLink.watch"),
            ]
            try:
                done, _ = await asyncio.wait(
                    [*tasks, publisher.failed], return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    task.result()  # raises the first failure
                raise EtcdUnavailable("a session task ended")
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            publisher.stop()
            if self._publisher is publisher:
                self._publisher = None

    async def _republish(self, session: EtcdSession, publisher: Publisher) -> None:
        """Publish every local entry under the new lease; drop our keys no longer local.

        Returns once etcd has applied all of it; from then on, local changes
        are sent as they happen.
        """
        snapshot, _ = await session.snapshot(self.settings.prefix)
        self.keys.republish(self.local_entries(), snapshot, time.time())
        self._published.clear()
        self._publisher = publisher
        publisher.send()
        await publisher.wait_idle()

    async def _keepalive(self, session: EtcdSession) -> None:
        assert self._lease_id is not None
        interval = self.settings.ttl / 3
        while True:
            await asyncio.sleep(interval)
            ttl = await asyncio.wait_for(session.refresh(self._lease_id), interval)
            if ttl <= 0:
                raise EtcdUnavailable(f"lease {self._lease_id:x} expired")

    async def _open_watch(self, session: EtcdSession, resync: bool = False) -> Watch:
        """Resume the watch from the view's revision + 1, or resync in full and watch on.

        A full resync is made for a new view, when ``resync`` is true (the
        history was compacted), and when etcd's revision went back (its data
        was lost).
        """
        prefix = self.settings.prefix
        if self.view.revision and not resync:
            current = await session.revision(prefix)
            if current >= self.view.revision:
                try:
                    return await session.watch(prefix, self.view.revision + 1)
                except RevisionCompacted as e:
                    self.log.info("cluster_watch_compacted", error=str(e))
            else:
                self.log.warning("etcd_revision_went_back", was=self.view.revision, now=current)
        items, revision = await session.snapshot(prefix)
        self.resyncs += 1
        self._emit(self.view.resync(items, revision))
        return await session.watch(prefix, revision + 1)

    async def _consume(self, session: EtcdSession, watch: Watch) -> None:
        while True:
            try:
                async for kind, key, value, revision in session.events(watch):
                    if kind == "put":
                        self._emit(self.view.put(key, value, revision))
                    else:
                        self._emit(self.view.delete(key, revision))
            except RevisionCompacted as e:
                self.log.info("cluster_watch_compacted", error=str(e))
                watch = await self._open_watch(session, resync=True)
                continue
            raise EtcdUnavailable("the etcd watch ended")

    def _emit(self, events: Sequence[PortEvent]) -> None:
        if events:
            try:
                self.on_events(events)
            except Exception:
                self.log.exception("cluster_event_sink_failed")


async def _until(event: asyncio.Event, timeout: float | None) -> None:
    """Wait until ``event`` is set (and still is), at most ``timeout`` [s]."""
    async with asyncio.timeout(timeout):
        while not event.is_set():
            await event.wait()


MAX_IN_FLIGHT = 512
"""Most changes a daemon has sent to etcd without an answer yet."""


class Publisher:
    """Sends a `DesiredKeys`' changes on one session, pipelined; reports the answers.

    The bookkeeping (what is unsent, how many are in flight) is the
    `DesiredKeys`'; the publisher holds only futures: `failed`, and the
    waiter of `wait_idle`. At most `MAX_IN_FLIGHT` changes await their
    answer at a time (the rest stay unsent, in order, and go as answers
    come). `failed` gets the first refused or lost change's error; the
    session then ends, and the publisher sends nothing more.

    Parameters
    ----------
    keys : `DesiredKeys`
        What to send, and where the answers are counted.
    session : `EtcdSession`
        Where to send.
    lease : `int`
        The lease of the puts.
    on_settled : callable () -> `None`
        Called when every change has been sent and answered.
    """

    def __init__(
        self,
        keys: DesiredKeys,
        session: EtcdSession,
        lease: int,
        on_settled: Callable[[], None],
    ) -> None:
        self.keys = keys
        self.session = session
        self.lease = lease
        self.on_settled = on_settled
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle: asyncio.Future[None] | None = None

    def send(self) -> None:
        """Send the unsent changes now (up to the in-flight limit)."""
        if self.failed.done():
            return
        batch = self.keys.next_batch(MAX_IN_FLIGHT)
        for i, (key, value) in enumerate(batch):
            try:
                answer = self.session.send_change(key, value, self.lease)
            except EtcdUnavailable as e:
                self.keys.unsent_again(batch[i:])
                self._fail(e)
                return
            answer.add_done_callback(self._answered)
        self._check_idle()

    async def wait_idle(self) -> None:
        """Wait until every change is sent and answered.

        Raises
        ------
        EtcdUnavailable
            What `failed` holds; or, if `stop` came first, that the publisher stopped.
        """
        while not self.keys.settled:
            if self.failed.done():
                if self.failed.cancelled():  # stop(): not a cancellation of the caller
                    raise EtcdUnavailable("the publisher stopped with changes unanswered")
                self.failed.result()
            self._idle = asyncio.get_running_loop().create_future()
            await asyncio.wait([self._idle, self.failed], return_when=asyncio.FIRST_COMPLETED)

    def stop(self) -> None:
        """Send nothing more (the session is ending)."""
        if not self.failed.done():
            self.failed.cancel()
        elif not self.failed.cancelled():
            self.failed.exception()  # retrieved: the session has ended on some error

    def _answered(self, answer: asyncio.Future[Any]) -> None:
        if self.failed.done():
            return  # the session has ended: its answers no longer count
        if answer.cancelled():
            self._fail(EtcdUnavailable("a change sent to etcd was cancelled"))
        elif (error := answer.exception()) is not None:
            self._fail(error)
        else:
            self.keys.acknowledged()
            self.send()

    def _check_idle(self) -> None:
        if not self.keys.settled or self.failed.done():
            return
        self.on_settled()
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if not self.failed.done():
            self.failed.set_exception(error)
