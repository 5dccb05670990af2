"""The object server on the key server: SSE-S3 through KES over mTLS, outages, two key servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from tests.support.kesserver import KESServer
from tests.support.s3server import S3Server


def test_sse_s3_through_the_key_server(tmp_path: Path) -> None:
    with KESServer(tmp_path / "kes") as kes:
        env = kes.object_server_env() | {"MINIO_KMS_AUTO_ENCRYPTION": "on"}
        with S3Server(tmp_path / "data", env=env) as server:
            s3 = server.client()
            s3.create_bucket(Bucket="crypt")
            body = os.urandom(300_000)
            put = s3.put_object(Bucket="crypt", Key="test.file", Body=body)
            assert put["ServerSideEncryption"] == "AES256"
            assert s3.get_object(Bucket="crypt", Key="test.file")["Body"].read() == body
            # the default key was created in the key server's keystore at start
            assert (kes.keystore / "minio-key-1").is_file()
            # restart both: everything still decrypts
            kes.stop()
            kes.start()
            server.restart()
            assert (
                server.client().get_object(Bucket="crypt", Key="test.file")["Body"].read() == body
            )


def test_key_server_outage_is_a_clean_503_and_recovers(tmp_path: Path) -> None:
    kes = KESServer(tmp_path / "kes").start()
    try:
        env = kes.object_server_env() | {"MINIO_KMS_AUTO_ENCRYPTION": "on"}
        with S3Server(tmp_path / "data", env=env) as server:
            s3 = server.client()
            s3.create_bucket(Bucket="outage")
            s3.put_object(Bucket="outage", Key="before", Body=b"stored before")
            kes.stop()
            with pytest.raises(ClientError) as info:
                s3.put_object(Bucket="outage", Key="during", Body=b"x")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            with pytest.raises(ClientError) as info:
                s3.get_object(Bucket="outage", Key="before")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            kes.start()
            assert s3.get_object(Bucket="outage", Key="before")["Body"].read() == b"stored before"
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket="outage").get("Contents", [])]
            assert listed == ["before"]  # the PUT during the outage left nothing behind
            s3.put_object(Bucket="outage", Key="after", Body=b"after")
    finally:
        kes.stop()


def test_two_key_servers_one_stopped(tmp_path: Path) -> None:
    keys = tmp_path / "shared-keys"
    first = KESServer(tmp_path / "kes1", keystore=keys)
    second = KESServer(tmp_path / "kes2", keystore=keys)
    # both trust the same client identity: reuse the first one's certificate
    second.client_key.write_bytes(first.client_key.read_bytes())
    second.client_cert.write_bytes(first.client_cert.read_bytes())
    second.identity = first.identity
    second._write_config()
    first.start()
    second.start()
    try:
        env = first.object_server_env()
        env["MINIO_KMS_KES_ENDPOINT"] = f"{first.endpoint},{second.endpoint}"
        ca_bundle = tmp_path / "both-ca.pem"
        ca_bundle.write_bytes(first.ca_path.read_bytes() + second.ca_path.read_bytes())
        env["MINIO_KMS_KES_CA_PATH"] = str(ca_bundle)
        env["MINIO_KMS_AUTO_ENCRYPTION"] = "on"
        with S3Server(tmp_path / "data", env=env) as server:
            s3 = server.client()
            s3.create_bucket(Bucket="ha-bucket")
            s3.put_object(Bucket="ha-bucket", Key="a", Body=b"one")
            first.stop()
            for i in range(5):
                s3.put_object(Bucket="ha-bucket", Key=f"k{i}", Body=b"two")
            assert s3.get_object(Bucket="ha-bucket", Key="a")["Body"].read() == b"one"
    finally:
        first.stop()
        second.stop()


def test_crypto_shredding(tmp_path: Path) -> None:
    with KESServer(tmp_path / "kes") as kes:
        env = kes.object_server_env() | {"MINIO_KMS_AUTO_ENCRYPTION": "on"}
        with S3Server(tmp_path / "data", env=env) as server:
            s3 = server.client()
            s3.create_bucket(Bucket="shred")
            s3.put_object(Bucket="shred", Key="doomed", Body=b"secret")
            kes.stop()
            (
                kes.keystore / "minio-key-1"
            ).unlink()  # the master key is gone (and the cache with the process)
            kes.start()
            with pytest.raises(ClientError) as info:
                s3.get_object(Bucket="shred", Key="doomed")
            error = info.value.response["Error"]
            assert error["Code"] == "KMS.NotFoundException"
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert b"secret" not in str(info.value).encode()


def test_bad_kes_environment_stops_startup(tmp_path: Path) -> None:
    env = {"MINIO_KMS_KES_ENDPOINT": "https://127.0.0.1:1", "MINIO_KMS_KES_KEY_NAME": "minio-key-1"}
    server = S3Server(tmp_path / "data", env=env)
    with pytest.raises(RuntimeError, match="MINIO_KMS_KES_KEY_FILE"):
        server.start()
