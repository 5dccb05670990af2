"""A trivial S3-shaped server that measures the load generator's own ceiling.

It parses just enough HTTP/1.1 (request line, Content-Length), checks nothing, stores nothing
but object sizes, reads and discards request bodies, and answers:

* ``PUT /bucket`` and ``PUT /bucket/key``: 200 (the key's size is remembered);
* ``GET /bucket/key``: 200 with a canned body of the remembered size (404 if never PUT);
* ``GET /bucket?list-type=2...``: ListObjectsV2 pages of the keys PUT into the bucket, 1,000 per
  page, rendered once and then served from a cache.

Whatever a real server does beyond this is the server's cost; with the sink pinned to one core
and the client to the other, the sink's figures are the most the client can drive.

    python bench/sink_server.py --port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
from typing import BinaryIO, cast
from urllib.parse import parse_qsl, unquote

RECV_BUFFER = 256 << 10  # 1 MiB reads from 8 streams cost far more kernel time
PAGE = 1000
SENDFILE_MIN = 64 * 1024


class SinkState:
    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}  # "/bucket/key" -> size
        self.buckets: dict[str, set[str]] = {}
        self.bodies: dict[int, bytes] = {}
        self.pages: dict[tuple[str, str], bytes] = {}
        self.sorted: dict[str, list[str]] = {}
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; canned GET bodies, sent with sendfile
        self.file_size = 0

    def body_file(self, size: int) -> BinaryIO:
        if size > self.file_size:
            self.file.seek(0)
            chunk = b"\x5a" * (1 << 20)
            for _ in range(0, size, len(chunk)):
                self.file.write(chunk)
            self.file.flush()
            self.file_size = self.file.tell()
        return cast(BinaryIO, self.file)

    def body(self, size: int) -> bytes:
        body = self.bodies.get(size)
        if body is None:
            body = self.bodies[size] = b"\x5a" * size
        return body

    def put(self, path: str, size: int) -> None:
        bucket, _, key = path[1:].partition("/")
        keys = self.buckets.setdefault(bucket, set())
        if key:
            self.sizes[path] = size
            if key not in keys:
                keys.add(key)
                self.sorted.pop(bucket, None)
                self.pages = {k: v for k, v in self.pages.items() if k[0] != bucket}

    def list_page(self, bucket: str, query: str) -> bytes:
        cached = self.pages.get((bucket, query))
        if cached is not None:
            return cached
        params = dict(parse_qsl(query, keep_blank_values=True))
        keys = self.sorted.get(bucket)
        if keys is None:
            keys = self.sorted[bucket] = sorted(self.buckets.get(bucket, ()))
        start = int(params.get("continuation-token") or 0)
        max_keys = int(params.get("max-keys") or PAGE)
        page = keys[start : start + max_keys]
        truncated = start + max_keys < len(keys)
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
            f"<Name>{bucket}</Name><Prefix></Prefix><MaxKeys>{max_keys}</MaxKeys>",
            f"<KeyCount>{len(page)}</KeyCount>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        if truncated:
            parts.append(f"<NextContinuationToken>{start + max_keys}</NextContinuationToken>")
        for key in page:
            size = self.sizes.get(f"/{bucket}/{key}", 0)
            parts.append(
                f"<Contents><Key>{key}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
                f'<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>{size}</Size>'
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        parts.append("</ListBucketResult>")
        rendered = "".join(parts).encode()
        self.pages[(bucket, query)] = rendered
        return rendered


class SinkConnection(asyncio.BufferedProtocol):
    def __init__(self, state: SinkState) -> None:
        self.state = state
        self.buffer = memoryview(bytearray(RECV_BUFFER))
        self.head = bytearray()
        self.remaining = 0  # body bytes still to discard
        self.pending: tuple[str, str, str, int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = self.buffer[:nbytes]
        while data:
            if self.remaining:
                n = min(self.remaining, len(data))
                self.remaining -= n
                data = data[n:]
                if not self.remaining:
                    self.respond()
                continue
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            rest = bytes(self.head[end + 4 :])
            self.parse(bytes(self.head[:end]))
            self.head = bytearray()
            if not self.remaining:
                self.respond()
            data = memoryview(rest)

    def parse(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        method, target, _ = lines[0].decode("latin-1").split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        path, _, query = target.partition("?")
        self.pending = (method, unquote(path), query, length)
        self.remaining = length

    def respond(self) -> None:
        assert self.pending is not None and self.transport is not None
        method, path, query, length = self.pending
        self.pending = None
        state = self.state
        if method == "PUT":
            state.put(path, length)
            self.send(200, b"", b'ETag: "d41d8cd98f00b204e9800998ecf8427e"\r\n')
        elif method == "GET" and path.count("/") == 1:
            body = state.list_page(path[1:], query)
            self.send(200, body, b"Content-Type: application/xml\r\n")
        elif method in ("GET", "HEAD"):
            size = state.sizes.get(path)
            if size is None:
                self.send(404, b"<Error><Code>NoSuchKey</Code></Error>", b"")
            elif method == "GET" and size >= SENDFILE_MIN:
                self.send(200, b"", b"", size)
                file = state.body_file(size)
                loop = asyncio.get_running_loop()
                task = loop.create_task(loop.sendfile(self.transport, file, 0, size))
                task.add_done_callback(_sent)
            else:
                self.send(200, state.body(size) if method == "GET" else b"", b"", size)
        else:
            self.send(200 if method != "DELETE" else 204, b"", b"")

    def send(self, status: int, body: bytes, extra: bytes, length: int | None = None) -> None:
        assert self.transport is not None
        reason = b"OK" if status == 200 else b"Other"
        head = b"HTTP/1.1 %d %s\r\n%bContent-Length: %d\r\n\r\n" % (
            status,
            reason,
            extra,
            len(body) if length is None else length,
        )
        if len(body) <= 65536:
            self.transport.write(head + body)
        else:
            self.transport.write(head)
            self.transport.write(body)


def _sent(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        print(f"sendfile failed: {task.exception()!r}", flush=True)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    state = SinkState()
    server = await loop.create_server(lambda: SinkConnection(state), host, port, backlog=1024)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"sink listening on {host}:{port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    # The standard event loop, not uvloop: its loop.sendfile is zero-copy (os.sendfile), and
    # uvloop measured slower here at sending large bodies.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
