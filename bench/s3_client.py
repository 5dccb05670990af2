"""A lean asynchronous S3 load generator: raw HTTP/1.1 on asyncio (uvloop when present).

Why not boto3 or aiohttp: on a 2-core machine the client competes with the server for CPU, so
every microsecond of client work per request is a microsecond the measurement loses. This
client does per request only what S3 needs:

* one SigV4 signature (``UNSIGNED-PAYLOAD``; the signing key is cached per day, the
  canonical-header template per target, the ``x-amz-date`` string per second);
* one ``transport.write`` of the request head (plus the pre-generated payload ``bytes``, which
  the transport sends without copying);
* a ``BufferedProtocol`` that receives straight into one preallocated buffer per connection and
  only counts the bytes of bodies it does not need (GET payloads); listing pages are kept and
  scanned with ``bytes.count``/``find``, not an XML parser.

Connections are kept alive (one per client task; reconnect only when the server closes).
A ``Target`` says where and how to talk: HTTP or HTTPS (``tls=True`` with an optional CA file)
and extra headers for PUT and GET (e.g. SSE-S3 ``x-amz-server-side-encryption: AES256`` or the
three SSE-C customer headers), which are signed like the other ``x-amz-*`` headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ssl
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

UNSIGNED = "UNSIGNED-PAYLOAD"
RECV_BUFFER = 256 << 10  # measured: 1 MiB reads cost far more kernel time with 8 streams
WRITE_SLICE = 1 << 20  # big request bodies are written in slices of this size


class HTTPError(Exception):
    """The connection broke or the response could not be parsed."""


# -- target and signing -------------------------------------------------------------------------


@dataclass(slots=True)
class Target:
    """One S3 endpoint to drive, and how to talk to it."""

    name: str
    host: str
    port: int
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    tls: bool = False
    ca_file: str | None = None  # None with tls=True: do not verify (loopback benchmark)
    put_headers: Sequence[tuple[str, str]] = ()  # e.g. SSE headers, signed when x-amz-*
    get_headers: Sequence[tuple[str, str]] = ()  # e.g. SSE-C headers on GET

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        if self.ca_file:
            return ssl.create_default_context(cafile=self.ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context


def uri_encode(text: str, safe: str = "/") -> str:
    return quote(text, safe="-_.~" + safe)


class Signer:
    """SigV4 for S3 with ``UNSIGNED-PAYLOAD``: a handful of string joins and two HMACs."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._secret = ("AWS4" + target.secret_key).encode()
        self._day = ""
        self._key = b""
        self._scope = ""
        self._second = -1
        self._amz_date = ""
        self._templates: dict[int, tuple[str, str, str]] = {}
        self._host = target.host_header

    def _template(self, extra: Sequence[tuple[str, str]]) -> tuple[str, str, str]:
        """(canonical headers with a {date} slot, signed header names, raw extra header lines)."""
        cached = self._templates.get(id(extra))
        if cached is not None:
            return cached
        fixed = {"host": self._host, "x-amz-content-sha256": UNSIGNED, "x-amz-date": "\0"}
        signed_extra = {n.lower(): v.strip() for n, v in extra if n.lower().startswith("x-amz-")}
        fixed.update(signed_extra)
        names = sorted(fixed)
        canonical = "".join(f"{n}:{fixed[n]}\n" for n in names).replace("\0", "{date}")
        raw = "".join(f"{n}: {v}\r\n" for n, v in extra)
        result = (canonical, ";".join(names), raw)
        self._templates[id(extra)] = result
        return result

    def _clock(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            day = self._amz_date[:8]
            if day != self._day:
                self._day = day
                key = self._secret
                for part in (day, self.target.region, "s3", "aws4_request"):
                    key = hmac.digest(key, part.encode(), "sha256")
                self._key = key
                self._scope = f"{day}/{self.target.region}/s3/aws4_request"
        return self._amz_date

    def request_head(
        self,
        method: str,
        path: str,
        query: str = "",
        content_length: int | None = None,
        extra: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """The full request head; ``path`` and ``query`` are already canonical (encoded, sorted)."""
        amz_date = self._clock()
        canonical_headers, signed, raw_extra = self._template(extra)
        canonical = (
            f"{method}\n{path}\n{query}\n{canonical_headers.replace('{date}', amz_date)}\n"
            f"{signed}\n{UNSIGNED}"
        )
        to_sign = (
            f"AWS4-HMAC-SHA256\n{amz_date}\n{self._scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )
        signature = hmac.new(self._key, to_sign.encode(), "sha256").hexdigest()
        target = f"{path}?{query}" if query else path
        length = f"Content-Length: {content_length}\r\n" if content_length is not None else ""
        return (
            f"{method} {target} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"x-amz-content-sha256: {UNSIGNED}\r\nx-amz-date: {amz_date}\r\n{raw_extra}"
            f"Authorization: AWS4-HMAC-SHA256 Credential={self.target.access_key}/{self._scope}, "
            f"SignedHeaders={signed}, Signature={signature}\r\n{length}\r\n"
        ).encode("latin-1")


# -- the connection -----------------------------------------------------------------------------

_IDLE, _HEAD, _BODY, _CHUNKED, _DONE = range(5)


class Connection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection; one request in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = memoryview(bytearray(RECV_BUFFER))
        self._state = _IDLE
        self._head = bytearray()
        self._remaining = 0
        self._keep = False
        self._parts: list[bytes] = []
        self._chunk_buf = bytearray()
        self._status = 0
        self._close_after = False
        self._no_body = False
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.body_bytes = 0  # response body bytes received over the connection's life
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] | None = None  # done once the transport is gone

    # -- asyncio protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)
        self._fail(HTTPError(f"connection lost: {exc!r}"))
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        try:
            self._feed(self._buffer[:nbytes])
        except (HTTPError, ValueError) as exc:  # ValueError: a malformed number in the head
            self._fail(exc if isinstance(exc, HTTPError) else HTTPError(f"bad response: {exc}"))
            if self.transport is not None:
                self.transport.abort()

    def eof_received(self) -> bool:
        if self._state == _BODY and self._remaining < 0:  # read-until-close body
            self._finish()
        return False

    # -- response parsing --
    def _feed(self, data: memoryview) -> None:
        while data:
            state = self._state
            if state == _BODY:
                n = len(data)
                if self._remaining >= 0 and n >= self._remaining:
                    n = self._remaining
                if self._keep:
                    self._parts.append(bytes(data[:n]))
                self.body_bytes += n
                if self._remaining >= 0:
                    self._remaining -= n
                    if self._remaining == 0:
                        self._finish()
                data = data[n:]
            elif state == _HEAD:
                self._head += data
                end = self._head.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._head) > 65536:
                        raise HTTPError("response head too large")
                    return
                rest = memoryview(bytes(self._head[end + 4 :]))
                self._parse_head(bytes(self._head[:end]))
                data = rest
            elif state == _CHUNKED:
                self._chunk_buf += data
                self._parse_chunks()
                return
            else:
                raise HTTPError(f"unexpected data from server: {bytes(data[:80])!r}")

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        status_line = lines[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            raise HTTPError(f"bad status line {lines[0][:80]!r}")
        status = int(status_line[1])
        if status == 100:  # 100 Continue: the real response follows
            self._head = bytearray()
            return
        self._status = status
        length = -1
        chunked = False
        self._close_after = status_line[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                lowered = value.strip().lower()
                self._close_after = lowered == b"close" or (
                    self._close_after and lowered != b"keep-alive"
                )
        self._head = bytearray()
        if self._no_body or status in (204, 304) or (100 <= status < 200):
            self._finish()
        elif chunked:
            self._state = _CHUNKED
            self._chunk_buf = bytearray()
        elif length == 0:
            self._finish()
        else:
            self._remaining = length  # -1: until the server closes
            if length < 0:
                self._close_after = True
            self._state = _BODY

    def _parse_chunks(self) -> None:
        buf = self._chunk_buf
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                end = buf.find(b"\r\n\r\n", eol)  # trailers, if any, end with an empty line
                if buf[eol : eol + 4] == b"\r\n\r\n" or end >= 0:
                    self._finish()
                    return
                break
            if len(buf) < eol + 2 + size + 2:
                break
            chunk = bytes(buf[eol + 2 : eol + 2 + size])
            self.body_bytes += size
            if self._keep:
                self._parts.append(chunk)
            pos = eol + 2 + size + 2
        del buf[:pos]

    def _finish(self) -> None:
        self._state = _DONE
        waiter = self._waiter
        body = b"".join(self._parts) if self._keep else b""
        self._parts = []
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # -- flow control: big bodies go out in slices, never all buffered in the transport --
    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def _write_large(self, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        view = memoryview(body)
        for start in range(0, len(view), WRITE_SLICE):
            if self.closed:
                raise HTTPError("connection lost while sending the body")
            if self._write_paused:
                self._drain = asyncio.get_running_loop().create_future()
                try:
                    await self._drain
                finally:
                    self._drain = None
            transport.write(view[start : start + WRITE_SLICE])

    # -- requests --
    async def request(
        self,
        head: bytes,
        body: bytes | None = None,
        *,
        keep_body: bool = False,
        no_body: bool = False,
    ) -> tuple[int, bytes]:
        """Send one request; return (status, body if ``keep_body`` else b"")."""
        transport = self.transport
        if transport is None or self.closed:
            raise HTTPError("connection is closed")
        self._state = _HEAD
        self._keep = keep_body
        self._no_body = no_body
        self._parts = []
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            if body is None:
                transport.write(head)
            elif len(body) <= 65536:
                transport.write(head + body)
            else:
                transport.write(head)
                await self._write_large(body)
            result = await waiter
        finally:
            self._waiter = None
        if self._close_after:
            self.closed = True
            transport.close()
        return result


async def connect(target: Target, context: ssl.SSLContext | None = None) -> Connection:
    loop = asyncio.get_running_loop()
    if target.tls and context is None:
        context = target.ssl_context()
    _, protocol = await loop.create_connection(
        Connection,
        target.host,
        target.port,
        ssl=context,
        server_hostname=target.host if context is not None else None,
    )
    sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
    if sock is not None:
        import socket

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return protocol


# -- an S3 client on top ------------------------------------------------------------------------


class S3Client:
    """One client: one connection (re-opened if the server closes it), signed requests."""

    def __init__(self, target: Target, context: ssl.SSLContext | None = None) -> None:
        self.target = target
        self.signer = Signer(target)
        self._context = context if context is not None else target.ssl_context()
        self._conn: Connection | None = None
        self._old: list[Connection] = []  # closed by us, maybe not yet gone (TLS shutdown)
        self.connects = 0
        self.received = 0  # response body bytes received

    async def _connection(self) -> Connection:
        conn = self._conn
        if conn is None or conn.closed:
            if conn is not None and self.target.tls:
                self._old.append(conn)
            conn = await connect(self.target, self._context)
            self._conn = conn
            self.connects += 1
        return conn

    async def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes | None = None,
        *,
        extra: Sequence[tuple[str, str]] = (),
        keep_body: bool = False,
    ) -> tuple[int, bytes]:
        conn = await self._connection()
        length = len(body) if body is not None else (0 if method in ("PUT", "POST") else None)
        head = self.signer.request_head(method, path, query, length, extra)
        before = conn.body_bytes
        try:
            result = await conn.request(head, body, keep_body=keep_body, no_body=method == "HEAD")
        except HTTPError:
            self.close()
            raise
        self.received += conn.body_bytes - before
        return result

    async def put(self, bucket: str, key: str, body: bytes) -> int:
        status, _ = await self.call(
            "PUT", f"/{bucket}/{uri_encode(key)}", body=body, extra=self.target.put_headers
        )
        return status

    async def get(self, bucket: str, key: str) -> int:
        status, _ = await self.call(
            "GET", f"/{bucket}/{uri_encode(key)}", extra=self.target.get_headers
        )
        return status

    async def create_bucket(self, bucket: str) -> int:
        status, _ = await self.call("PUT", f"/{bucket}", body=b"")
        return status

    async def list_page(
        self, bucket: str, prefix: str = "", token: str = "", max_keys: int = 1000
    ) -> tuple[int, int, str]:
        """One ListObjectsV2 page: (status, keys on the page, next continuation token or "")."""
        params = {"list-type": "2", "max-keys": str(max_keys)}
        if prefix:
            params["prefix"] = prefix
        if token:
            params["continuation-token"] = token
        query = "&".join(
            f"{uri_encode(k, '')}={uri_encode(v, '')}" for k, v in sorted(params.items())
        )
        status, body = await self.call("GET", f"/{bucket}", query, keep_body=True)
        if status != 200:
            return status, 0, ""
        keys = body.count(b"<Key>")
        next_token = ""
        if b"<IsTruncated>true</IsTruncated>" in body:
            start = body.find(b"<NextContinuationToken>")
            if start >= 0:
                start += len(b"<NextContinuationToken>")
                next_token = _xml_unescape(body[start : body.find(b"<", start)].decode())
        return status, keys, next_token

    async def list_all(self, bucket: str, prefix: str = "") -> tuple[int, int, int]:
        """Full pagination: (last status, keys seen, pages). Stops at the first non-200."""
        token = ""
        keys = pages = 0
        while True:
            status, n, token = await self.list_page(bucket, prefix, token)
            pages += 1
            keys += n
            if status != 200 or not token:
                return status, keys, pages

    def close(self) -> list[Connection]:
        """Close the connection; returns the connections whose transports may still be closing."""
        conn = self._conn
        self._conn = None
        if conn is not None and conn.transport is not None and not conn.closed:
            conn.closed = True
            conn.transport.close()
        closing = [c for c in [*self._old, conn] if c is not None]
        self._old = []
        return closing


async def close_all(clients: Sequence[S3Client], timeout: float = 2.0) -> None:
    """Close every client's connection and wait until the transports are gone (a TLS
    transport's close needs a few loop turns; without this the sockets leak at loop exit)."""
    closing = [conn for client in clients for conn in client.close()]
    pending = [c.lost for c in closing if c.lost is not None and not c.lost.done()]
    if pending:
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            for conn in closing:
                if conn.transport is not None and conn.lost is not None and not conn.lost.done():
                    conn.transport.abort()
            await asyncio.sleep(0)
    await asyncio.sleep(0)


def _xml_unescape(text: str) -> str:
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


# -- workloads ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """One row of the table: an operation, an object size and a number of concurrent clients."""

    op: str  # "put" | "get" | "list"
    size: int  # object size in bytes; for "list", the number of keys in the listed bucket
    clients: int

    @property
    def name(self) -> str:
        if self.op == "list":
            return f"LIST {self.size:,} keys x{self.clients}"
        return f"{self.op.upper()} {human_size(self.size)} x{self.clients}"

    @property
    def unit(self) -> str:
        if self.op == "list":
            return "keys/s"
        return "MB/s" if self.size >= 1 << 20 else "ops/s"


def human_size(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


@dataclass(slots=True)
class CellResult:
    workload: Workload
    ops: int = 0
    bytes: int = 0  # payload bytes moved (PUT bodies sent, GET bodies received)
    keys: int = 0  # keys listed
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    connects: int = 0  # TCP connections opened (a server that closes after each response: ~ops)
    tries: list[float] = field(default_factory=list)  # every repeat's value (best is reported)

    @property
    def value(self) -> float:
        """The headline figure in ``workload.unit``."""
        if self.seconds <= 0:
            return 0.0
        unit = self.workload.unit
        if unit == "MB/s":
            return self.bytes / self.seconds / 1e6
        if unit == "keys/s":
            return self.keys / self.seconds
        return self.ops / self.seconds

    @property
    def ok(self) -> bool:
        """Every response was a 2xx and nothing broke."""
        return not self.errors and all(200 <= s < 300 for s in self.statuses)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "op": self.workload.op,
            "size": self.workload.size,
            "clients": self.workload.clients,
            "unit": self.workload.unit,
            "value": round(self.value, 2),
            "ops": self.ops,
            "bytes": self.bytes,
            "keys": self.keys,
            "seconds": round(self.seconds, 4),
            "p50_ms": round(self.percentile(0.5) * 1e3, 3),
            "p99_ms": round(self.percentile(0.99) * 1e3, 3),
            "connections": self.connects,
            "tries": self.tries,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors[:10],
        }


# Buckets the workloads use; ``prepare`` creates them and the objects GET and LIST read.
DATA_BUCKET = "bench-data"
LIST_BUCKET = "bench-list"


def get_keys(size: int, count: int) -> list[str]:
    return [f"get/{size}/{i:05d}" for i in range(count)]


def list_keys(count: int) -> list[str]:
    return [f"k/{i:06d}" for i in range(count)]


def put_keyspace(size: int) -> int:
    """Keys a PUT client cycles through (bounded disk use for big objects; fresh keys for small)."""
    if size >= 64 << 20:
        return 2
    if size >= 1 << 20:
        return 16
    return 1 << 30


class Payloads:
    """Pre-generated random bodies, one per size (bytes: sent without a copy)."""

    def __init__(self) -> None:
        self._bodies: dict[int, bytes] = {}

    def get(self, size: int) -> bytes:
        body = self._bodies.get(size)
        if body is None:
            import os

            seed = os.urandom(1 << 16)
            body = (seed * (size // len(seed) + 1))[:size]
            self._bodies[size] = body
        return body


async def run_many(
    clients: Sequence[S3Client],
    jobs: Sequence[tuple[str, str, bytes]],
    concurrency: int,
) -> Counter[int]:
    """PUT ``jobs`` (bucket, key, body) with up to ``concurrency`` clients; count statuses."""
    statuses: Counter[int] = Counter()
    queue = list(reversed(jobs))

    async def worker(client: S3Client) -> None:
        while queue:
            bucket, key, body = queue.pop()
            for attempt in range(3):
                try:
                    statuses[await client.put(bucket, key, body)] += 1
                    break
                except (HTTPError, OSError):
                    if attempt == 2:
                        raise
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(worker(c) for c in clients[:concurrency]))
    return statuses


def _get_object_count(size: int, quick: bool) -> int:
    if size >= 64 << 20:
        return 2
    if size >= 1 << 20:
        return 8
    return 50 if quick else 1000


async def prepare(
    target: Target,
    workloads: Sequence[Workload],
    payloads: Payloads,
    *,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, list[str]]:
    """Create the buckets and the objects GET and LIST cells read. Returns GET keys per size."""
    clients = [S3Client(target) for _ in range(8)]
    try:
        for bucket in (DATA_BUCKET, LIST_BUCKET):
            status = await clients[0].create_bucket(bucket)
            if status not in (200, 409):
                raise HTTPError(f"cannot create bucket {bucket}: HTTP {status}")
        keys_by_size: dict[str, list[str]] = {}
        for size in sorted({w.size for w in workloads if w.op == "get"}):
            keys = get_keys(size, _get_object_count(size, quick))
            body = payloads.get(size)
            statuses = await run_many(clients, [(DATA_BUCKET, k, body) for k in keys], 8)
            _check(statuses, f"populate GET objects of {human_size(size)}")
            keys_by_size[str(size)] = keys
        list_sizes = {w.size for w in workloads if w.op == "list"}
        if list_sizes:
            count = max(list_sizes)
            started = time.perf_counter()
            jobs = [(LIST_BUCKET, k, b"") for k in list_keys(count)]
            statuses = await run_many(clients, jobs, 8)
            _check(statuses, f"populate {count} keys for LIST")
            log(f"  populated {count:,} keys in {time.perf_counter() - started:.1f}s")
        return keys_by_size
    finally:
        await close_all(clients)


def _check(statuses: Counter[int], what: str) -> None:
    bad = {s: n for s, n in statuses.items() if not 200 <= s < 300}
    if bad:
        raise HTTPError(f"{what}: non-2xx responses {bad}")


async def run_cell(
    target: Target,
    workload: Workload,
    payloads: Payloads,
    get_keys_for_size: Sequence[str] = (),
    *,
    seconds: float = 5.0,
    warmup: float = 1.0,
    min_ops: int = 1,
    run_id: str = "",
) -> CellResult:
    """Drive one workload: warm up, then run every client until ``seconds`` have passed and each
    has done at least ``min_ops`` operations; the figure covers the time to the last completion.
    Never raises for slowness or for server errors: those land in ``statuses``/``errors``."""
    result = CellResult(workload)
    clients = [S3Client(target) for _ in range(workload.clients)]
    body = payloads.get(workload.size) if workload.op == "put" else b""
    keyspace = put_keyspace(workload.size)
    prefix = f"put/{run_id}{workload.size}/c{workload.clients}"
    read_keys = list(get_keys_for_size)
    perf = time.perf_counter
    counters = [0] * len(clients)  # operations started per client (warm-up included)

    async def one(client: S3Client, index: int, i: int) -> tuple[int, int, int]:
        """One operation: (status, payload bytes, keys)."""
        op = workload.op
        if op == "put":
            key = f"{prefix}/{index}/{i % keyspace}"
            return await client.put(DATA_BUCKET, key, body), len(body), 0
        if op == "get":
            key = read_keys[(index * 7919 + i) % len(read_keys)]
            before = client.received
            status = await client.get(DATA_BUCKET, key)
            return status, client.received - before, 0
        status, keys, _ = await client.list_all(LIST_BUCKET)
        return status, 0, keys

    async def drive(client: S3Client, index: int, until: float, count_it: bool) -> None:
        done = failures = 0
        while True:
            now = perf()
            if now >= until and (not count_it or done >= min_ops):
                return
            i = counters[index]
            counters[index] = i + 1
            try:
                status, nbytes, keys = await one(client, index, i)
            except (HTTPError, OSError) as exc:
                if count_it:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                failures += 1
                if failures > 20 or perf() > until + 60:
                    return
                await asyncio.sleep(0.05)
                continue
            if count_it:
                end = perf()
                result.latencies.append(end - now)
                result.statuses[status] += 1
                if 200 <= status < 300:
                    result.ops += 1
                    result.bytes += nbytes
                    result.keys += keys
                done += 1

    try:
        if warmup > 0:
            until = perf() + warmup
            await asyncio.gather(*(drive(c, n, until, False) for n, c in enumerate(clients)))
        connects = sum(c.connects for c in clients)
        start = perf()
        await asyncio.gather(*(drive(c, n, start + seconds, True) for n, c in enumerate(clients)))
        result.seconds = perf() - start
        result.connects = sum(c.connects for c in clients) - connects
    finally:
        await close_all(clients)
    return result
