"""A TLS server layer for asyncio that accepts any client certificate when asked to.

CPython's ``ssl`` cannot accept an unverified (for example self-signed Ed25519) client
certificate, yet KES-style identities are public-key pins of exactly such certificates. This module
runs TLS with pyOpenSSL over memory BIOs and wraps any plaintext ``asyncio.Protocol`` (an HTTP/1.1
protocol, uvicorn's, ...) in a transport that speaks TLS underneath::

    socket <-> asyncio transport <-> TLSProtocol (pyOpenSSL, memory BIOs) <-> TLSTransport <-> app protocol

Two client-certificate modes, chosen by ``TLSSettings.verify_client``:

* ``False`` (KES ``--auth=off``): a certificate is requested and any certificate is accepted
  without chain verification; the application decides what the public key is allowed to do.
* ``True`` (``--auth=on``): a presented certificate must chain to the configured CA (or the system
  roots); an invalid one fails the handshake.

In both modes a client *without* a certificate completes the handshake, so that the application
can answer routes that need no identity and give a clean error on the others. No CA names are sent
in the certificate request (Go clients would then withhold certificates that do not chain to one).

The peer certificate and its identity reach the application through
``transport.get_extra_info("peercert")`` (a ``cryptography`` certificate or ``None``) and
``get_extra_info("peer_identity")``: the hex SHA-256 of the SubjectPublicKeyInfo of the one
non-CA certificate the peer sent, or ``None`` (then ``peer_identity_error`` may say why).
Nothing here knows about KES.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from cryptography import x509
from OpenSSL import SSL

__all__ = [
    "TLSProtocol",
    "TLSSettings",
    "TLSTransport",
    "create_tls_server",
    "server_context",
]

log = logging.getLogger(__name__)

# Read buffers: 64 KiB holds several TLS records and stays below malloc's mmap threshold.
_READ_CHUNK = 64 * 1024


class _Direct:
    """The established-connection hot path straight into OpenSSL through pyOpenSSL's cffi
    bindings: ``SSL_read``/``SSL_write``/``BIO_*`` on the connection's own ``SSL`` object and
    memory BIOs, into one reused buffer per thread. pyOpenSSL's wrappers allocate a buffer per
    call and report "no more data" by raising ``WantReadError`` (several exceptions per request);
    here that is a return code. Handshakes, errors and shutdown stay on pyOpenSSL. Built only
    when the private names exist (else the pyOpenSSL calls are used)."""

    BUFFER = 64 * 1024

    def __init__(self, ffi: Any, lib: Any) -> None:
        self.ffi = ffi
        self.lib = lib
        self.null = ffi.NULL
        self.want_read = lib.SSL_ERROR_WANT_READ
        self.zero_return = lib.SSL_ERROR_ZERO_RETURN
        self._local = threading.local()

    @classmethod
    def probe(cls) -> _Direct | None:
        try:
            from OpenSSL._util import ffi, lib

            for name in ("SSL_read", "SSL_write", "SSL_get_error", "BIO_read", "BIO_write"):
                getattr(lib, name)
            lib.BIO_get_mem_data  # noqa: B018 - probing that the name exists
        except (ImportError, AttributeError):  # pragma: no cover - other pyOpenSSL layouts
            return None
        return cls(ffi, lib)

    def handles(self, conn: SSL.Connection) -> tuple[Any, Any, Any] | None:
        """The connection's ``SSL*``, incoming and outgoing BIO, or None if not reachable."""
        handles = (getattr(conn, n, None) for n in ("_ssl", "_into_ssl", "_from_ssl"))
        ssl_ptr, into, out = handles
        if ssl_ptr is None or into is None or out is None:  # pragma: no cover - other layouts
            return None
        return ssl_ptr, into, out

    def buffer(self) -> Any:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = self.ffi.new("char[]", self.BUFFER)
        return buf

    def pending(self, bio: Any) -> int:
        """Bytes waiting in a memory BIO."""
        return int(self.lib.BIO_get_mem_data(bio, self.null))

    def feed(self, into: Any, data: bytes) -> bool:
        return bool(self.lib.BIO_write(into, data, len(data)) == len(data))

    def read(self, ssl_ptr: Any, chunks: list[bytes]) -> int:
        """Decrypt everything available into ``chunks``; returns the SSL error code that ended
        it (``want_read``: all read; ``zero_return``: close_notify; else a failure)."""
        lib, buf, size = self.lib, self.buffer(), self.BUFFER
        while True:
            got = lib.SSL_read(ssl_ptr, buf, size)
            if got <= 0:
                return int(lib.SSL_get_error(ssl_ptr, got))
            chunks.append(self.ffi.buffer(buf, got)[:])

    def write(self, ssl_ptr: Any, data: bytes) -> bool:
        lib, total = self.lib, len(data)
        if total == 0:
            return True
        view = self.ffi.from_buffer(data)
        done = 0
        while done < total:
            wrote = lib.SSL_write(ssl_ptr, view + done, total - done)
            if wrote <= 0:
                return False
            done += wrote
        return True

    def drain(self, out: Any, waiting: int) -> bytes:
        """Take ``waiting`` bytes (all there are) out of the outgoing BIO."""
        buf = self.buffer() if waiting <= self.BUFFER else self.ffi.new("char[]", waiting)
        got = self.lib.BIO_read(out, buf, waiting)
        return self.ffi.buffer(buf, got)[:] if got > 0 else b""


_DIRECT = _Direct.probe()


# TLS 1.2 suites (TLS 1.3 suites are OpenSSL's defaults: AES-128/256-GCM, ChaCha20-Poly1305).
_TLS12_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    b"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True, slots=True)
class TLSSettings:
    """How the listener does TLS.

    ``ca`` is a PEM file or a directory of PEM files trusted for client certificates when
    ``verify_client`` is on (added to the system roots). ``password`` decrypts an encrypted
    private key. ``handshake_timeout`` is in seconds.
    """

    cert_file: str
    key_file: str
    password: str | None = None
    verify_client: bool = False
    ca: str | None = None
    handshake_timeout: float = 10.0
    alpn: tuple[str, ...] = ("http/1.1",)


def _accept_any(
    conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int
) -> bool:  # pragma: no cover - trivial
    return True


def _chain_result(conn: SSL.Connection, cert: Any, errno: int, depth: int, ok: int) -> bool:
    return bool(ok)


def server_context(settings: TLSSettings) -> SSL.Context:
    """Build the pyOpenSSL server context for ``settings`` (loads and checks the key pair)."""
    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(
        SSL.OP_NO_COMPRESSION | SSL.OP_NO_RENEGOTIATION | SSL.OP_CIPHER_SERVER_PREFERENCE
    )
    ctx.set_cipher_list(_TLS12_CIPHERS)
    if settings.password is not None:
        password = settings.password.encode()
        ctx.set_passwd_cb(lambda maxlen, verify, userdata: password)
    ctx.use_certificate_chain_file(settings.cert_file)
    ctx.use_privatekey_file(settings.key_file)
    ctx.check_privatekey()
    # Needed for session resumption when client certificates are requested.
    ctx.set_session_id(b"strongroom-mtls")
    if settings.verify_client:
        ctx.set_default_verify_paths()
        if settings.ca:
            if os.path.isdir(settings.ca):
                ctx.load_verify_locations(None, settings.ca)
                for name in sorted(os.listdir(settings.ca)):
                    path = os.path.join(settings.ca, name)
                    if os.path.isfile(path):
                        ctx.load_verify_locations(path)
            else:
                ctx.load_verify_locations(settings.ca)
        ctx.set_verify(SSL.VERIFY_PEER, _chain_result)
    else:
        ctx.set_verify(SSL.VERIFY_PEER, _accept_any)
    offered = [p.encode() for p in settings.alpn]

    def select_alpn(conn: SSL.Connection, protocols: list[bytes]) -> Any:
        for proto in offered:
            if proto in protocols:
                return proto
        return SSL.NO_OVERLAPPING_PROTOCOLS

    ctx.set_alpn_select_callback(select_alpn)
    return ctx


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _identity_of(cert: x509.Certificate) -> str:
    from strongroom.crypto.identity import identity_of_certificate

    return identity_of_certificate(cert)


class TLSTransport(asyncio.Transport):
    """The plaintext transport the application protocol sees."""

    def __init__(self, owner: TLSProtocol, extra: dict[str, Any]) -> None:
        super().__init__()
        self._info: dict[str, Any] = extra
        self._owner = owner
        self._protocol: asyncio.BaseProtocol | None = None
        self._closing = False
        self._reading_paused = False

    # -- asyncio.BaseTransport -------------------------------------------------------------
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._info:
            return self._info[name]
        if name in ("peer_identity", "peer_identity_error"):
            self._identify()
            return self._info[name]
        raw = self._owner.raw
        return raw.get_extra_info(name, default) if raw is not None else default

    def _identify(self) -> None:
        """Once per connection: the identity of the one non-CA certificate the peer sent (CA
        certificates of its chain are skipped). Several non-CA certificates: no identity, and
        ``peer_identity_error`` says why."""
        identity: str | None = None
        error: str | None = None
        leaf = self._info.get("peercert")
        if leaf is not None:
            conn = self._info.get("ssl_object")
            chain = conn.get_peer_cert_chain(as_cryptography=True) if conn is not None else None
            certs = [leaf, *(c for c in chain or () if c != leaf)]
            end_entities = [c for c in certs if not _is_ca(c)]
            if len(end_entities) > 1:
                error = "more than one client certificate"
            elif end_entities:
                identity = _identity_of(end_entities[0])
        self._info["peer_identity"] = identity
        self._info["peer_identity_error"] = error

    def is_closing(self) -> bool:
        raw = self._owner.raw
        return self._closing or raw is None or raw.is_closing()

    def close(self) -> None:
        """Send close_notify after pending data, then close the socket."""
        if self._closing:
            return
        self._closing = True
        self._owner.shutdown()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    # -- asyncio.ReadTransport -------------------------------------------------------------
    def is_reading(self) -> bool:
        return not self._reading_paused

    def pause_reading(self) -> None:
        if self._reading_paused:
            return
        self._reading_paused = True
        raw = self._owner.raw
        if raw is not None and not raw.is_closing():
            raw.pause_reading()

    def resume_reading(self) -> None:
        if not self._reading_paused:
            return
        self._reading_paused = False
        raw = self._owner.raw
        if raw is not None and not raw.is_closing():
            raw.resume_reading()

    # -- asyncio.WriteTransport ------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._owner.send(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("TLS transports cannot half-close; use close()")

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        raw = self._owner.raw
        if raw is not None:
            raw.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        raw = self._owner.raw
        return raw.get_write_buffer_size() if raw is not None else 0

    def abort(self) -> None:
        self._closing = True
        raw = self._owner.raw
        if raw is not None:
            raw.abort()


class TLSProtocol(asyncio.Protocol):
    """Server side of one TLS connection; hands plaintext to ``app_factory()``'s protocol."""

    def __init__(
        self,
        context: SSL.Context,
        app_factory: Callable[[], asyncio.Protocol],
        handshake_timeout: float = 10.0,
    ) -> None:
        self._context = context
        self._app_factory = app_factory
        self._handshake_timeout = handshake_timeout
        self._conn: SSL.Connection | None = None
        self.raw: asyncio.Transport | None = None
        self._app: asyncio.Protocol | None = None
        self._transport: TLSTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._app_write_paused = False
        self._shut = False
        self._direct: tuple[Any, Any, Any] | None = None  # SSL*, BIOs: see _Direct

    # -- raw side --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        sock = self.raw.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = SSL.Connection(self._context, None)
        conn.set_accept_state()
        self._conn = conn
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._handshake_timeout, self._handshake_expired)

    def _handshake_expired(self) -> None:
        self._timer = None
        if self._app is None and self.raw is not None:
            log.debug("TLS handshake timed out with %s", self.raw.get_extra_info("peername"))
            self.raw.abort()

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        if conn is None or self.raw is None:
            return
        direct = self._direct
        if direct is not None and _DIRECT is not None and _DIRECT.feed(direct[1], data):
            chunks: list[bytes] = []
            error = _DIRECT.read(direct[0], chunks)
            if error == _DIRECT.want_read or error == _DIRECT.zero_return:
                self._deliver(chunks, closed=error == _DIRECT.zero_return)
                return
            # a failure: what was decrypted before it is dropped, as pyOpenSSL would; its
            # error handling below reports the failure (the queue still holds it)
        else:
            conn.bio_write(data)
        if self._app is None:
            try:
                conn.do_handshake()
            except SSL.WantReadError:
                self._flush()
                return
            except SSL.Error as exc:
                log.debug("TLS handshake failed: %s", exc)
                self._flush()  # deliver the alert
                self.raw.close()
                return
            self._flush()
            self._handshake_done(conn)
        chunks = []
        closed = False
        while True:
            try:
                chunk = conn.recv(_READ_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:  # close_notify from the peer
                closed = True
                break
            except SSL.Error as exc:
                log.debug("TLS read failed: %s", exc)
                self._flush()
                self.raw.close()
                return
            if not chunk:
                break
            chunks.append(chunk)
            if (
                _DIRECT is not None
                and not conn.pending()
                and not _DIRECT.pending(conn._into_ssl)  # nothing left to decrypt
            ):
                break
        self._deliver(chunks, closed=closed)

    def _deliver(self, chunks: list[bytes], *, closed: bool) -> None:
        """Send what reading produced (alerts, tickets), then hand the plaintext to the app."""
        self._flush()
        app = self._app
        if app is None:
            return
        if chunks:
            app.data_received(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        if closed:
            keep_open = app.eof_received()
            if not keep_open and self._transport is not None:
                self._transport.close()

    def _handshake_done(self, conn: SSL.Connection) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        peer = conn.get_peer_certificate(as_cryptography=True)
        alpn = conn.get_alpn_proto_negotiated()
        extra: dict[str, Any] = {
            "peercert": peer,
            "ssl_object": conn,
            "sslcontext": self._context,
            "alpn_protocol": alpn.decode() if alpn else None,
            "tls_version": conn.get_protocol_version_name(),
            "cipher": conn.get_cipher_name(),
        }
        self._transport = TLSTransport(self, extra)
        if _DIRECT is not None:
            self._direct = _DIRECT.handles(conn)
        app = self._app_factory()
        self._transport.set_protocol(app)
        self._app = app
        app.connection_made(self._transport)
        if self._write_paused and not self._app_write_paused:
            self._app_write_paused = True
            app.pause_writing()

    def eof_received(self) -> bool | None:
        # TCP FIN without close_notify: treat as the end of the stream.
        if self._app is not None:
            self._app.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        app, self._app = self._app, None
        self._conn = None
        self._direct = None
        if app is not None:
            app.connection_lost(exc)
        self.raw = None

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._app is not None and not self._app_write_paused:
            self._app_write_paused = True
            self._app.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._app is not None and self._app_write_paused:
            self._app_write_paused = False
            self._app.resume_writing()

    # -- helpers for the TLS transport -----------------------------------------------------
    def _flush(self) -> None:
        conn, raw = self._conn, self.raw
        if conn is None or raw is None:
            return
        if _DIRECT is not None:
            out = conn._from_ssl
            waiting = _DIRECT.pending(out)
            if waiting:
                raw.write(_DIRECT.drain(out, waiting))
            return
        while True:
            try:
                out = conn.bio_read(_READ_CHUNK)
            except SSL.WantReadError:
                return
            if not out:
                return
            raw.write(out)

    def send(self, data: bytes | bytearray | memoryview) -> None:
        conn = self._conn
        if conn is None or self.raw is None or self.raw.is_closing():
            return
        payload = data if isinstance(data, bytes) else bytes(data)
        direct = self._direct
        if direct is not None and _DIRECT is not None:
            if not _DIRECT.write(direct[0], payload):  # part of it may be out: no retry
                log.debug("TLS write failed")
                self.raw.abort()
                return
            self._flush()
            return
        try:
            conn.sendall(payload)
        except SSL.Error as exc:
            log.debug("TLS write failed: %s", exc)
            self.raw.abort()
            return
        self._flush()

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        conn, raw = self._conn, self.raw
        if conn is None or raw is None:
            return
        with contextlib.suppress(SSL.Error):
            conn.shutdown()
        self._flush()
        raw.close()


async def create_tls_server(
    app_factory: Callable[[], asyncio.Protocol],
    host: str | None,
    port: int,
    settings: TLSSettings,
    *,
    context: SSL.Context | Callable[[], SSL.Context] | None = None,
    backlog: int = 1024,
    sock: socket.socket | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (or ``sock``) and serve each TLS connection with ``app_factory``.

    ``context`` may be a callable returning the context for each new connection: swapping what
    it returns rotates the server certificate without a restart (existing connections keep
    theirs)."""
    if callable(context):
        provider = context
    else:
        fixed = context if context is not None else server_context(settings)

        def provider() -> SSL.Context:
            return fixed

    loop = asyncio.get_running_loop()

    def factory() -> asyncio.Protocol:
        return TLSProtocol(provider(), app_factory, settings.handshake_timeout)

    if sock is not None:
        return await loop.create_server(factory, sock=sock, backlog=backlog)
    return await loop.create_server(
        factory, host or None, port, backlog=backlog, reuse_address=True
    )
