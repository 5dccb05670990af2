"""Per-request state handed to every S3 handler, and the server-wide configuration."""

from __future__ import annotations

import asyncio
import hmac
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from strongroom.net.streaming import Request, Response
from strongroom.s3.storage import LocalStorage
from strongroom.scheduling import set_batch_policy

if TYPE_CHECKING:
    from strongroom.kms.base import KMS
    from strongroom.s3.sigv4 import AuthResult

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)

    def lookup(self, access_key: str) -> str | None:
        if hmac.compare_digest(access_key.encode(), self.access_key.encode()):
            return self.secret_key
        return None


@dataclass(slots=True)
class ServerConfig:
    credentials: Credentials
    region: str = "us-east-1"
    # Only a configured region (MINIO_REGION) is enforced in signatures; otherwise any signing
    # region is accepted, as MinIO does, so clients set up for another region still work.
    enforce_region: bool = False
    domains: tuple[str, ...] = ()  # virtual-host-style base domains (MINIO_DOMAIN)
    kms: KMS | None = None
    auto_encryption: bool = False
    allow_ssec_over_http: bool = False


class _GroupWriter:
    """One writer thread that commits every metadata write queued while it was busy in one
    transaction (group commit): concurrent small PUTs share an fsync. Each write still fails
    alone (a savepoint), and its caller is answered only after the COMMIT."""

    _STOP = object()

    def __init__(
        self,
        storage: LocalStorage,
        max_batch: int = 128,
        load: Callable[[], int] = lambda: 0,
    ) -> None:
        self._storage = storage
        self._max_batch = max_batch
        self._load = load  # requests in progress in the loop that feeds this writer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._batch_scheduled = False
        self._thread = threading.Thread(target=self._run, name="s3-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., T], args: tuple[Any, ...]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, args, future, loop))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is self._STOP:
                    self._queue.put(nxt)
                    break
                batch.append(nxt)
            self._yield_when_busy(len(batch) > 1 or self._load() > 1)
            outcomes: list[tuple[Any, BaseException | None]] = []
            try:
                with self._storage.batch():
                    for fn, args, _, _ in batch:
                        try:
                            outcomes.append((fn(*args), None))
                        except Exception as exc:
                            outcomes.append((None, exc))
            except Exception as exc:  # the COMMIT itself failed: nothing of the batch holds
                outcomes = [(None, exc)] * len(batch)
            for (_, _, future, loop), (result, error) in zip(batch, outcomes, strict=True):
                loop.call_soon_threadsafe(_settle, future, result, error)

    def _yield_when_busy(self, busy: bool) -> None:
        """Under concurrent load (more than one write queued, or other requests in progress),
        run this thread as SCHED_BATCH: woken by the request loop it then does not preempt it,
        but runs when the loop waits or its time slice ends, and finds more writes to commit at
        once. With one request at a time it runs at once again (the client waits for that
        commit). Linux only; elsewhere a no-op."""
        if busy == self._batch_scheduled:
            return
        self._batch_scheduled = busy
        set_batch_policy(busy)

    def close(self) -> None:
        self._queue.put(self._STOP)
        self._thread.join()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class Services:
    """Long-lived objects shared by all requests of one worker process."""

    def __init__(self, config: ServerConfig, storage: LocalStorage) -> None:
        self.config = config
        self.storage = storage
        self.active_requests = 0  # maintained by the app: requests being handled now
        self._writer = _GroupWriter(storage, load=lambda: self.active_requests)
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="s3-io")

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a metadata write on the writer thread; returns after its transaction committed."""
        return await self._writer.submit(fn, args)

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking I/O (fsync, large reads) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def close(self) -> None:
        self._writer.close()
        self._io.shutdown(wait=True)
        self.storage.close()


@dataclass(slots=True)
class Ctx:
    """One S3 request after routing and authentication."""

    request: Request
    services: Services
    request_id: str
    bucket: str
    key: str
    query: dict[str, str]
    auth: AuthResult | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return self.request.headers

    @property
    def storage(self) -> LocalStorage:
        return self.services.storage

    @property
    def resource(self) -> str:
        if self.key:
            return f"/{self.bucket}/{self.key}"
        return f"/{self.bucket}" if self.bucket else "/"

    def response(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        *,
        xml: bool = False,
    ) -> Response:
        out = list(self.response_headers)
        if xml:
            out.append(("Content-Type", "application/xml"))
        if headers:
            out.extend(headers)
        return Response(status, out, body)


def split_path(raw_path: str) -> tuple[str, str]:
    """Path-style ``/bucket/key`` into its decoded parts (key may hold any characters)."""
    path = raw_path[1:] if raw_path.startswith("/") else raw_path
    bucket, _, key = path.partition("/")
    return unquote(bucket), unquote(key, errors="surrogateescape")
