"""Server-side encryption driven by real clients: SSE-S3 (static KMS key) and SSE-C, over HTTPS.

The server gets a built-in KMS key from MINIO_KMS_SECRET_KEY, as in MinIO's KMS guide.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error
from minio.sse import SseCustomerKey, SseS3
from tests.s3.clients.helpers import (
    MIB,
    Target,
    clean_env,
    md5_file,
    require_program,
    run,
    unique_bucket,
)
from tests.support.s3server import S3Server

SSEC_KEY = b"0123456789abcdef0123456789abcdef"  # 32 bytes, also valid as CLI text
OTHER_KEY = b"fedcba9876543210fedcba9876543210"


def _kms_env() -> dict[str, str]:
    return {"MINIO_KMS_SECRET_KEY": "clients-key:" + base64.b64encode(os.urandom(32)).decode()}


@pytest.fixture(scope="module")
def sse_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("clients-sse")
    with S3Server(root / "data", tls=True, env=_kms_env()) as server:
        yield Target(server, "https")


@pytest.fixture(scope="module")
def sse_http_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("clients-sse-http")
    with S3Server(root / "data", env=_kms_env()) as server:
        yield Target(server, "http")


@pytest.fixture
def bucket(sse_target: Target) -> str:
    name = unique_bucket("sse")
    sse_target.boto3().create_bucket(Bucket=name)
    return name


def _aws(target: Target, root: Path) -> tuple[list[str], dict[str, str]]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config").write_text("[default]\nregion = us-east-1\nmax_attempts = 1\n")
    (root / "credentials").write_text(
        f"[default]\naws_access_key_id = {target.access_key}\n"
        f"aws_secret_access_key = {target.secret_key}\n"
    )
    env = clean_env(
        root,
        {
            "AWS_CONFIG_FILE": str(root / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(root / "credentials"),
        },
    )
    argv = [require_program("aws"), "--endpoint-url", target.endpoint]
    if target.ca_path is not None:
        argv += ["--ca-bundle", str(target.ca_path)]
    return argv, env


@pytest.mark.clients
def test_aws_cli_sse_s3_and_sse_c(
    sse_target: Target, bucket: str, big_file: Path, tmp_path: Path
) -> None:
    aws, env = _aws(sse_target, tmp_path / "aws")
    s3 = sse_target.boto3()

    def cli(*args: str) -> str:
        return run([*aws, *args], env=env, server=sse_target.server).stdout.decode()

    ssec = ("--sse-c", "AES256", "--sse-c-key", SSEC_KEY.decode())
    # SSE-S3, multipart
    cli("s3", "cp", "--no-progress", "--sse", "AES256", str(big_file), f"s3://{bucket}/s3.bin")
    head = s3.head_object(Bucket=bucket, Key="s3.bin")
    assert head["ServerSideEncryption"] == "AES256"
    cli("s3", "cp", "--no-progress", f"s3://{bucket}/s3.bin", str(tmp_path / "s3.out"))
    assert md5_file(tmp_path / "s3.out") == md5_file(big_file)
    # SSE-C, multipart upload and ranged multipart download with the key
    cli("s3", "cp", "--no-progress", *ssec, str(big_file), f"s3://{bucket}/c.bin")
    cli("s3", "cp", "--no-progress", *ssec, f"s3://{bucket}/c.bin", str(tmp_path / "c.out"))
    assert md5_file(tmp_path / "c.out") == md5_file(big_file)
    # SSE-C copy: decrypt with the source key, encrypt with SSE-S3
    cli(
        "s3",
        "cp",
        "--no-progress",
        "--sse-c-copy-source",
        "AES256",
        "--sse-c-copy-source-key",
        SSEC_KEY.decode(),
        "--sse",
        "AES256",
        f"s3://{bucket}/c.bin",
        f"s3://{bucket}/c-to-s3.bin",
    )
    body = s3.get_object(Bucket=bucket, Key="c-to-s3.bin")["Body"].read()
    assert hashlib.md5(body).hexdigest() == md5_file(big_file)
    # without the key, or with another one, the object cannot be read
    proc = run(
        [*aws, "s3api", "head-object", "--bucket", bucket, "--key", "c.bin"],
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    proc = run(
        [
            *aws,
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            "c.bin",
            "--sse-customer-algorithm",
            "AES256",
            "--sse-customer-key",
            OTHER_KEY.decode(),
            str(tmp_path / "never"),
        ],
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert b"403" in proc.stderr or b"AccessDenied" in proc.stderr


@pytest.mark.clients
def test_aws_cli_sse_c_refused_over_http(sse_http_target: Target, tmp_path: Path) -> None:
    aws, env = _aws(sse_http_target, tmp_path / "aws")
    name = unique_bucket("ssehttp")
    sse_http_target.boto3().create_bucket(Bucket=name)
    src = tmp_path / "f"
    src.write_bytes(b"secret")
    proc = run(
        [
            *aws,
            "s3api",
            "put-object",
            "--bucket",
            name,
            "--key",
            "k",
            "--body",
            str(src),
            "--sse-customer-algorithm",
            "AES256",
            "--sse-customer-key",
            SSEC_KEY.decode(),
        ],
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert b"InvalidRequest" in proc.stderr


@pytest.fixture(scope="module")
def mc(sse_target: Target) -> Minio:
    assert sse_target.ca_path is not None
    return Minio(
        sse_target.hostport,
        access_key=sse_target.access_key,
        secret_key=sse_target.secret_key,
        secure=True,
        region="us-east-1",
        http_client=urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=str(sse_target.ca_path), retries=False
        ),
    )


def _read(response: Any) -> bytes:
    try:
        data: bytes = response.read()
        return data
    finally:
        response.close()
        response.release_conn()


def test_minio_sse(mc: Minio, bucket: str, sse_target: Target) -> None:
    key = SseCustomerKey(SSEC_KEY)
    data = os.urandom(6 * MIB)
    mc.put_object(bucket, "c", io.BytesIO(data), len(data), sse=key, part_size=5 * MIB)
    stat = mc.stat_object(bucket, "c", ssec=key)
    assert stat.size == len(data)
    middle = mc.get_object(bucket, "c", ssec=key, offset=5 * MIB - 10, length=20)
    assert _read(middle) == data[5 * MIB - 10 : 5 * MIB + 10]
    with pytest.raises(S3Error) as info:
        mc.get_object(bucket, "c", ssec=SseCustomerKey(OTHER_KEY))
    assert info.value.code == "AccessDenied"

    mc.put_object(bucket, "s3", io.BytesIO(data), -1, sse=SseS3(), part_size=5 * MIB)
    stat = mc.stat_object(bucket, "s3")
    assert stat.metadata is not None
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256"
    assert _read(mc.get_object(bucket, "s3")) == data

    mc.copy_object(bucket, "c-copy", CopySource(bucket, "c", ssec=key), sse=SseS3())
    assert _read(mc.get_object(bucket, "c-copy")) == data
    presigned = mc.presigned_get_object(bucket, "s3")
    http = urllib3.PoolManager(
        ssl_context=ssl.create_default_context(cafile=str(sse_target.ca_path))
    )
    assert http.request("GET", presigned).data == data


def _rclone(target: Target, root: Path) -> tuple[list[str], dict[str, str]]:
    root.mkdir(parents=True, exist_ok=True)
    config = root / "rclone.conf"
    config.write_text(
        "[sse]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        f"access_key_id = {target.access_key}\nsecret_access_key = {target.secret_key}\n"
        f"endpoint = {target.endpoint}\nregion = us-east-1\n"
    )
    argv = [require_program("rclone"), "--config", str(config), "--retries", "1"]
    if target.ca_path is not None:
        argv += ["--ca-cert", str(target.ca_path)]
    return argv, clean_env(root)


@pytest.mark.clients
def test_rclone_sse(sse_target: Target, bucket: str, big_file: Path, tmp_path: Path) -> None:
    rclone, env = _rclone(sse_target, tmp_path / "rclone")
    s3 = sse_target.boto3()
    parts = ("--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")
    ssec = (
        "--s3-sse-customer-algorithm",
        "AES256",
        "--s3-sse-customer-key",
        SSEC_KEY.decode(),
    )
    run(
        [
            *rclone,
            "copyto",
            *parts,
            "--s3-server-side-encryption",
            "AES256",
            str(big_file),
            f"sse:{bucket}/{big_file.name}",
        ],
        env=env,
        server=sse_target.server,
    )
    assert s3.head_object(Bucket=bucket, Key=big_file.name)["ServerSideEncryption"] == "AES256"
    proc = run(
        [*rclone, "check", "--include", big_file.name, str(big_file.parent), f"sse:{bucket}"],
        env=env,
        check=False,
        server=sse_target.server,
    )
    # rclone cannot compare the multipart ETag, so it relies on its own MD5 metadata
    assert b"0 differences found" in proc.stderr, proc.stderr
    run(
        [*rclone, "copyto", *parts, *ssec, str(big_file), f"sse:{bucket}/c.bin"],
        env=env,
        server=sse_target.server,
    )
    out = run([*rclone, "cat", *ssec, f"sse:{bucket}/c.bin"], env=env, server=sse_target.server)
    assert hashlib.md5(out.stdout).hexdigest() == md5_file(big_file)


@pytest.mark.clients
def test_s3cmd_sse_s3(sse_target: Target, bucket: str, tmp_path: Path) -> None:
    config = tmp_path / "s3cfg"
    assert sse_target.ca_path is not None
    config.write_text(
        "[default]\n"
        f"access_key = {sse_target.access_key}\nsecret_key = {sse_target.secret_key}\n"
        f"host_base = {sse_target.hostport}\nhost_bucket = {sse_target.hostport}\n"
        "use_https = True\nsignature_v2 = False\nbucket_location = us-east-1\n"
        f"ca_certs_file = {sse_target.ca_path}\n"
    )
    s3cmd = [require_program("s3cmd"), "-c", str(config), "--no-progress"]
    env = clean_env(tmp_path)
    src = tmp_path / "f.txt"
    src.write_bytes(b"encrypted by s3cmd's request\n" * 100)
    run([*s3cmd, "put", "--server-side-encryption", str(src), f"s3://{bucket}/f.txt"], env=env)
    head = sse_target.boto3().head_object(Bucket=bucket, Key="f.txt")
    assert head["ServerSideEncryption"] == "AES256"
    # SSE-S3 keeps the plaintext MD5 as ETag, so s3cmd's download check passes
    dst = tmp_path / "back.txt"
    run([*s3cmd, "get", f"s3://{bucket}/f.txt", str(dst)], env=env)
    assert dst.read_bytes() == src.read_bytes()


@pytest.mark.clients
def test_sse_kms_with_aws_cli_and_rclone(
    sse_target: Target, bucket: str, big_file: Path, tmp_path: Path
) -> None:
    aws, aws_env = _aws(sse_target, tmp_path / "aws")
    kms = ("--sse", "aws:kms", "--sse-kms-key-id", "clients-key")
    run(
        [*aws, "s3", "cp", "--no-progress", *kms, str(big_file), f"s3://{bucket}/kms.bin"],
        env=aws_env,
    )
    s3 = sse_target.boto3()
    head = s3.head_object(Bucket=bucket, Key="kms.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("clients-key")
    body = run([*aws, "s3", "cp", f"s3://{bucket}/kms.bin", "-"], env=aws_env).stdout
    assert hashlib.md5(body).hexdigest() == md5_file(big_file)
    # an unknown key name is refused and nothing is stored
    proc = run(
        [
            *aws,
            "s3",
            "cp",
            "--no-progress",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            "no-such-key",
            str(big_file),
            f"s3://{bucket}/nokey.bin",
        ],
        env=aws_env,
        check=False,
    )
    assert proc.returncode != 0
    assert "nokey.bin" not in [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]]

    rclone, env = _rclone(sse_target, tmp_path / "rclone")
    rkms = ("--s3-server-side-encryption", "aws:kms", "--s3-sse-kms-key-id", "clients-key")
    src = tmp_path / "small.txt"
    src.write_bytes(b"kms through rclone")
    run([*rclone, "copyto", *rkms, str(src), f"sse:{bucket}/r.txt"], env=env)
    assert s3.head_object(Bucket=bucket, Key="r.txt")["ServerSideEncryption"] == "aws:kms"
    out = run([*rclone, "cat", f"sse:{bucket}/r.txt"], env=env).stdout
    assert out == b"kms through rclone"
