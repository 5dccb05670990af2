"""Crash safety and atomicity: an object appears whole or not at all."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

MiB = 1024 * 1024


def signed_put_head(server: S3Server, bucket: str, key: str, length: int) -> bytes:
    """Request head of a SigV4-signed (UNSIGNED-PAYLOAD) PUT, for sending a body by hand."""
    url = f"{server.endpoint}/{bucket}/{key}"
    request = AWSRequest(
        method="PUT",
        url=url,
        headers={"Content-Length": str(length), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    lines = [f"PUT /{bucket}/{key} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def data_files(root: Path) -> list[Path]:
    return [p for p in (root / ".strongroom.sys" / "data").rglob("*") if p.is_file()]


@pytest.fixture
def own_server(tmp_path: Path) -> Any:
    server = S3Server(tmp_path / "data")
    server.start()
    yield server
    server.stop()


def test_killed_server_mid_put_keeps_previous_object(own_server: S3Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket="crash")
    old = os.urandom(2 * MiB)
    s3.put_object(Bucket="crash", Key="obj", Body=old)
    length = 64 * MiB
    sock = socket.create_connection(("127.0.0.1", own_server.port))
    sock.sendall(signed_put_head(own_server, "crash", "obj", length))
    sock.sendall(os.urandom(8 * MiB))  # a partial body, then the server dies
    time.sleep(0.3)
    own_server.kill()
    sock.close()
    own_server.start()
    s3 = own_server.client()
    got = s3.get_object(Bucket="crash", Key="obj")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(old).digest()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["obj"]


def test_dropped_client_mid_put_leaves_no_trace(own_server: S3Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket="drop")
    s3.put_object(Bucket="drop", Key="obj", Body=b"previous")
    before = data_files(own_server.data_dir)
    sock = socket.create_connection(("127.0.0.1", own_server.port))
    sock.sendall(signed_put_head(own_server, "drop", "obj", 16 * MiB))
    sock.sendall(os.urandom(4 * MiB))
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and data_files(own_server.data_dir) != before:
        time.sleep(0.05)
    assert data_files(own_server.data_dir) == before
    assert s3.get_object(Bucket="drop", Key="obj")["Body"].read() == b"previous"


def test_concurrent_puts_never_tear(own_server: S3Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket="race")
    bodies = [bytes([i]) * (3 * MiB) for i in range(6)]
    s3.put_object(Bucket="race", Key="same", Body=bodies[0])
    digests = {hashlib.md5(b).hexdigest() for b in bodies}
    errors: list[BaseException] = []

    def put(body: bytes) -> None:
        try:
            own_server.client().put_object(Bucket="race", Key="same", Body=body)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for _ in range(10):
        got = s3.get_object(Bucket="race", Key="same")["Body"].read()
        assert hashlib.md5(got).hexdigest() in digests
    for thread in threads:
        thread.join()
    assert not errors
    final = s3.get_object(Bucket="race", Key="same")
    data = final["Body"].read()
    assert hashlib.md5(data).hexdigest() in digests
    assert final["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    # Replaced versions' files are gone: exactly one data file remains.
    assert len(data_files(own_server.data_dir)) == 1


def test_restart_keeps_everything(own_server: S3Server) -> None:
    s3 = own_server.client()
    s3.create_bucket(Bucket="persist")
    small, large = b"small object", os.urandom(MiB)
    s3.put_object(Bucket="persist", Key="small", Body=small)
    s3.put_object(Bucket="persist", Key="large", Body=large)
    own_server.restart()
    s3 = own_server.client()
    assert s3.get_object(Bucket="persist", Key="small")["Body"].read() == small
    assert s3.get_object(Bucket="persist", Key="large")["Body"].read() == large


def test_sigterm_is_clean(own_server: S3Server) -> None:
    assert own_server.stop() == 0
    own_server.start()


def test_request_time_too_skewed(own_server: S3Server) -> None:
    import urllib.error
    import urllib.request
    from unittest import mock

    request = AWSRequest(method="GET", url=f"{own_server.endpoint}/", headers={})
    auth = S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1")
    stale = datetime(2020, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=stale):
        auth.add_auth(request)
    req = urllib.request.Request(request.url, headers=dict(request.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    assert info.value.code == 403
    assert b"RequestTimeTooSkewed" in info.value.read()
