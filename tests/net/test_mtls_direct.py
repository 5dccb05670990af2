"""The direct OpenSSL record path of the mTLS listener: failure handling without a network.

The success paths run over real sockets in tests/kes/integration/test_mtls.py."""

from __future__ import annotations

from typing import Any

import pytest

from strongroom.net import mtls


class _RawTransport:
    def __init__(self) -> None:
        self.aborted = False
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return self.aborted

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class _FailingWrites:
    """Stands in for the OpenSSL calls: every SSL_write fails."""

    def __init__(self) -> None:
        self.calls = 0

    def write(self, ssl_ptr: Any, data: bytes) -> bool:
        self.calls += 1
        return False


def test_a_failed_direct_write_aborts_and_never_resends(monkeypatch: pytest.MonkeyPatch) -> None:
    """SSL_write may have put part of the data out before failing: resending it through
    pyOpenSSL would duplicate bytes in the stream, so the connection is aborted instead."""
    failing = _FailingWrites()
    monkeypatch.setattr(mtls, "_DIRECT", failing)
    protocol = mtls.TLSProtocol(context=None, app_factory=lambda: None)  # type: ignore[arg-type,return-value]
    raw = _RawTransport()
    protocol.raw = raw  # type: ignore[assignment]
    protocol._conn = object()  # type: ignore[assignment]
    protocol._direct = ("ssl", "into", "from")
    protocol.send(b"response bytes")
    assert failing.calls == 1
    assert raw.aborted
    assert raw.written == []
    protocol.send(b"more")  # the transport is closing: nothing else is attempted
    assert failing.calls == 1
