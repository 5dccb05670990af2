"""HTTP-level behaviour: 100-continue, framing, hostile XML, addressing, HTTPS."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server


def signed(
    server: S3Server, method: str, path: str, body: bytes = b"", **headers: str
) -> dict[str, str]:
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=body, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def http_request(
    server: S3Server, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def raw_exchange(server: S3Server, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and b"Connection: close" not in b"".join(chunks):
                break
        return b"".join(chunks)


def test_expect_100_continue(server: S3Server, s3: Any, bucket: str) -> None:
    body = b"x" * 5000
    headers = signed(
        server, "PUT", f"/{bucket}/expect", body, **{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    lines = [
        f"PUT /{bucket}/expect HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Expect: 100-continue",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        final = sock.recv(65536)
        assert final.startswith(b"HTTP/1.1 200")
    assert s3.get_object(Bucket=bucket, Key="expect")["Body"].read() == body


def test_expect_100_rejected_without_body(server: S3Server, bucket: str) -> None:
    lines = [
        f"PUT /{bucket}/nope HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Expect: 100-continue",
        "Content-Length: 1000000",
        "Authorization: AWS4-HMAC-SHA256 Credential=nobody/20200101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=00",
        "x-amz-date: 20200101T000000Z",
    ]
    response = raw_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert not response.startswith(b"HTTP/1.1 100")
    assert response.startswith(b"HTTP/1.1 403")


def test_missing_content_length(server: S3Server, bucket: str) -> None:
    headers = signed(server, "PUT", f"/{bucket}/nolength")
    lines = [f"PUT /{bucket}/nolength HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    response = raw_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode())
    assert response.startswith(b"HTTP/1.1 411")
    assert b"<Code>MissingContentLength</Code>" in response


def test_http_chunked_transfer_encoding(server: S3Server, s3: Any, bucket: str) -> None:
    headers = signed(server, "PUT", f"/{bucket}/te", b"hello world")
    lines = [
        f"PUT /{bucket}/te HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Transfer-Encoding: chunked",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    response = raw_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert response.startswith(b"HTTP/1.1 200")
    assert s3.get_object(Bucket=bucket, Key="te")["Body"].read() == b"hello world"


@pytest.mark.parametrize(
    "document",
    [
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>",
        b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete><Object><Key>x</Key></Object></Delete>',
        b"<Delete></Delete>",
        b"<Wrong><Object><Key>x</Key></Object></Wrong>",
    ],
)
def test_hostile_or_malformed_xml(server: S3Server, bucket: str, document: bytes) -> None:
    headers = signed(server, "POST", f"/{bucket}?delete", document)
    code, _, body = http_request(server, "POST", f"/{bucket}?delete", document, headers)
    assert code == 400
    assert b"<Code>MalformedXML</Code>" in body
    assert b"passwd" not in body and b"root:" not in body


def test_error_body_format(server: S3Server, bucket: str) -> None:
    headers = signed(server, "GET", f"/{bucket}/missing-key")
    code, response_headers, raw = http_request(
        server, "GET", f"/{bucket}/missing-key", b"", headers
    )
    body = raw.decode()
    assert code == 404
    assert response_headers["content-type"] == "application/xml"
    assert response_headers["x-amz-request-id"]
    assert "<Code>NoSuchKey</Code>" in body
    assert "<Key>missing-key</Key>" in body
    assert "<BucketName>" in body and "<RequestId>" in body


def test_signed_payload_mismatch(server: S3Server, bucket: str) -> None:
    headers = signed(server, "PUT", f"/{bucket}/sha", b"original")
    code, _, body = http_request(server, "PUT", f"/{bucket}/sha", b"tampered", headers)
    assert code == 400
    assert b"XAmzContentSHA256Mismatch" in body


def test_keep_alive_many_requests(server: S3Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ka", Body=b"keep")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(20):
        conn.request("GET", f"/{bucket}/ka", headers=signed(server, "GET", f"/{bucket}/ka"))
        response = conn.getresponse()
        assert response.read() == b"keep"
    conn.close()


def test_virtual_host_style(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data", env={"MINIO_DOMAIN": "s3.test"}) as srv:
        host = f"vhost.s3.test:{srv.port}"

        def vhost(method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
            request = AWSRequest(method=method, url=f"http://{host}{path}", data=body)
            S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
            headers = dict(request.headers.items())
            headers["Host"] = host
            code, _, data = http_request(srv, method, path, body, headers)
            return code, data

        assert vhost("PUT", "/")[0] == 200
        assert vhost("PUT", "/dir/file", b"virtual")[0] == 200
        assert vhost("GET", "/dir/file") == (200, b"virtual")
        code, listing = vhost("GET", "/?list-type=2")
        assert code == 200 and b"<Key>dir/file</Key>" in listing
        assert srv.client().get_object(Bucket="vhost", Key="dir/file")["Body"].read() == b"virtual"


def test_https_roundtrip(tls_server: S3Server) -> None:
    s3 = tls_server.client()
    s3.create_bucket(Bucket="tls")
    body = os.urandom(2 * 1024 * 1024)
    s3.put_object(Bucket="tls", Key="secure", Body=body)
    assert s3.get_object(Bucket="tls", Key="secure")["Body"].read() == body
    ranged = s3.get_object(Bucket="tls", Key="secure", Range="bytes=100-199")["Body"].read()
    assert ranged == body[100:200]
    assert tls_server.ca_path is not None
    context = ssl.create_default_context(cafile=str(tls_server.ca_path))
    with (
        socket.create_connection(("127.0.0.1", tls_server.port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_empty_put_keeps_boto3_connection_in_sync(server: S3Server, bucket: str) -> None:
    """botocore sends Expect: 100-continue even for empty bodies and waits for the interim
    response; without it, the next request on the connection used to hang."""
    import time

    s3 = server.client(read_timeout=5)
    started = time.monotonic()
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    s3.put_object(Bucket=bucket, Key="empty2", Body=b"")
    s3.put_object(Bucket=bucket, Key="after2", Body=b"y")
    assert time.monotonic() - started < 4
    assert s3.get_object(Bucket=bucket, Key="after2")["Body"].read() == b"y"


def test_repeated_identical_content_length(server: S3Server, s3: Any, bucket: str) -> None:
    """RFC 9110 8.6: identical repeated Content-Length values are one (rclone sends them)."""
    headers = signed(server, "PUT", f"/{bucket}/dup", b"abc")
    lines = [f"PUT /{bucket}/dup HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
    lines += ["Content-Length: 3", "content-length: 3"]
    response = raw_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + b"abc")
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert s3.get_object(Bucket=bucket, Key="dup")["Body"].read() == b"abc"
    lines[-1] = "content-length: 4"
    response = raw_exchange(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + b"abcd")
    assert response.startswith(b"HTTP/1.1 400")


def test_any_signing_region_unless_one_is_configured(
    server: S3Server, bucket: str, tmp_path: Path
) -> None:
    import boto3

    kwargs = server.boto3_kwargs() | {"region_name": "eu-west-1"}
    elsewhere = boto3.client("s3", **kwargs)
    elsewhere.put_object(Bucket=bucket, Key="region", Body=b"ok")
    with S3Server(tmp_path / "data", env={"MINIO_REGION": "us-east-1"}) as strict:
        strict.client().create_bucket(Bucket="strict-region")
        # the 400 names the right region, so botocore re-signs for it and succeeds
        other = boto3.client("s3", **(strict.boto3_kwargs() | {"region_name": "eu-west-1"}))
        assert other.list_objects_v2(Bucket="strict-region")["KeyCount"] == 0


def test_wrong_region_error_names_the_region(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data", env={"MINIO_REGION": "us-east-1"}) as strict:
        request = AWSRequest(method="GET", url=f"{strict.endpoint}/", data=b"")
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "eu-west-1").add_auth(request)
        code, _, body = http_request(strict, "GET", "/", b"", dict(request.headers.items()))
        assert code == 400
        assert b"<Region>us-east-1</Region>" in body
