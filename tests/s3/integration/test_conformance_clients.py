"""Real clients against a real server: the AWS CLI, rclone and s3cmd as subprocesses (skipped
when not installed), minio-py calls in the style of its functional tests, and the bucket
configuration calls they make (tagging, notifications, MinIO's listing extensions)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

MiB = 1024 * 1024


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    for i in range(1, 4):
        (root / f"f{i}").write_bytes(os.urandom(1000 * i))
    (root / "sub" / "big").write_bytes(os.urandom(9 * MiB))  # multipart for every CLI
    (root / "sub" / "sp ace+plus").write_bytes(b"hi\n")


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _same_tree(a: Path, b: Path) -> None:
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


# -- the AWS CLI --


@pytest.fixture
def aws_env(tmp_path: Path) -> dict[str, str]:
    if shutil.which("aws") is None:
        pytest.skip("aws CLI not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }
    )
    return env


def test_aws_s3_sync_twice_uploads_nothing_the_second_time(
    server: S3Server, bucket: str, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    """`aws s3 sync` compares sizes and modification times: on auto-encrypted (SSE-S3) objects,
    with a multipart one among them, a second sync must transfer nothing, either way."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    _tree(src)
    aws = ["aws", "--endpoint-url", server.endpoint, "s3"]
    first = _run([*aws, "sync", str(src), f"s3://{bucket}/d", "--no-progress"], aws_env)
    assert first.count("upload:") == 5
    assert _run([*aws, "sync", str(src), f"s3://{bucket}/d", "--no-progress"], aws_env) == ""
    _run([*aws, "sync", f"s3://{bucket}/d", str(dst), "--no-progress"], aws_env)
    assert _run([*aws, "sync", f"s3://{bucket}/d", str(dst), "--no-progress"], aws_env) == ""
    _same_tree(src, dst)
    again = tmp_path / "again"
    _run([*aws, "cp", "--recursive", f"s3://{bucket}/d", str(again), "--no-progress"], aws_env)
    _same_tree(src, again)
    listing = _run([*aws, "ls", "--recursive", f"s3://{bucket}/d/"], aws_env)
    assert f"{9 * MiB} d/sub/big" in listing


def test_aws_s3api_multipart_and_presign(
    server: S3Server, bucket: str, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    import json

    import requests

    aws = ["aws", "--endpoint-url", server.endpoint, "--output", "json", "s3api"]
    part = tmp_path / "part"
    part.write_bytes(b"a" * (5 * MiB))
    created = json.loads(
        _run([*aws, "create-multipart-upload", "--bucket", bucket, "--key", "mp"], aws_env)
    )
    upload_id = created["UploadId"]
    etags = []
    for number in (1, 2):
        out = _run(
            [*aws, "upload-part", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id,
             "--part-number", str(number), "--body", str(part)],
            aws_env,
        )  # fmt: skip
        etags.append(json.loads(out)["ETag"])
    parts = json.loads(
        _run([*aws, "list-parts", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id],
             aws_env)
    )  # fmt: skip
    assert [p["Size"] for p in parts["Parts"]] == [5 * MiB, 5 * MiB]
    layout = {"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]}
    done = json.loads(
        _run(
            [*aws, "complete-multipart-upload", "--bucket", bucket, "--key", "mp",
             "--upload-id", upload_id, "--multipart-upload", json.dumps(layout)],
            aws_env,
        )
    )  # fmt: skip
    assert done["ETag"].endswith('-2"')
    head = json.loads(_run([*aws, "head-object", "--bucket", bucket, "--key", "mp"], aws_env))
    assert (head["ContentLength"], head["ETag"]) == (10 * MiB, done["ETag"])
    url = _run(
        ["aws", "--endpoint-url", server.endpoint, "s3", "presign", f"s3://{bucket}/mp",
         "--expires-in", "60"],
        aws_env,
    ).strip()  # fmt: skip
    got = requests.get(url, timeout=30)
    assert got.status_code == 200
    assert len(got.content) == 10 * MiB


# -- rclone --


def test_rclone_copy_check_sync(server: S3Server, bucket: str, tmp_path: Path) -> None:
    """rclone check compares MD5s with the listed ETags (and its own MD5 metadata for
    multipart objects): auto-encrypted SSE-S3 objects must list their content MD5."""
    if shutil.which("rclone") is None:
        pytest.skip("rclone not installed")
    src = tmp_path / "src"
    _tree(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        {
            "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
            "RCLONE_CONFIG_SR_TYPE": "s3",
            "RCLONE_CONFIG_SR_PROVIDER": "Minio",
            "RCLONE_CONFIG_SR_ACCESS_KEY_ID": ACCESS_KEY,
            "RCLONE_CONFIG_SR_SECRET_ACCESS_KEY": SECRET_KEY,
            "RCLONE_CONFIG_SR_ENDPOINT": server.endpoint,
        }
    )
    (tmp_path / "rclone.conf").write_text("")
    remote = f"sr:{bucket}/r"
    _run(["rclone", "copy", str(src), remote], env)
    _run(["rclone", "check", str(src), remote], env)
    synced = subprocess.run(
        ["rclone", "sync", str(src), remote, "-v"], env=env, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert "Copied" not in synced.stderr
    md5s = dict(
        reversed(line.split("  ", 1))
        for line in _run(["rclone", "md5sum", remote], env).splitlines()
    )
    import hashlib

    assert md5s["f1"] == hashlib.md5((src / "f1").read_bytes()).hexdigest()
    dst = tmp_path / "dst"
    _run(["rclone", "copy", remote, str(dst)], env)
    _same_tree(src, dst)


# -- s3cmd --


def test_s3cmd_put_get_ls_info_del(server: S3Server, bucket: str, tmp_path: Path) -> None:
    if shutil.which("s3cmd") is None:
        pytest.skip("s3cmd not installed")
    config = tmp_path / "s3cfg"
    host = f"127.0.0.1:{server.port}"
    config.write_text(
        "[default]\n"
        f"access_key = {ACCESS_KEY}\nsecret_key = {SECRET_KEY}\n"
        f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        "signature_v2 = False\n"
    )
    env = dict(os.environ)
    s3cmd = ["s3cmd", "-c", str(config)]
    src = tmp_path / "src"
    _tree(src)
    _run([*s3cmd, "put", str(src / "f1"), f"s3://{bucket}/a"], env)
    _run([*s3cmd, "put", "--multipart-chunk-size-mb=5", str(src / "sub" / "big"),
          f"s3://{bucket}/big"], env)  # fmt: skip
    listing = _run([*s3cmd, "ls", f"s3://{bucket}"], env)
    assert f"s3://{bucket}/a" in listing and f"s3://{bucket}/big" in listing
    info = _run([*s3cmd, "info", f"s3://{bucket}/a"], env)
    assert "File size: 1000" in info
    assert "SSE:       AES256" in info  # auto-encryption
    bucket_info = _run([*s3cmd, "info", f"s3://{bucket}"], env)
    assert "Location:" in bucket_info
    out = tmp_path / "big.out"
    _run([*s3cmd, "get", "--force", f"s3://{bucket}/big", str(out)], env)
    assert out.read_bytes() == (src / "sub" / "big").read_bytes()
    _run([*s3cmd, "sync", f"{src}/", f"s3://{bucket}/s/"], env)
    second = _run([*s3cmd, "sync", f"{src}/", f"s3://{bucket}/s/"], env)
    assert "upload:" not in second
    _run([*s3cmd, "del", f"s3://{bucket}/a"], env)
    assert f"s3://{bucket}/a" not in _run([*s3cmd, "ls", f"s3://{bucket}"], env)


# -- minio-py --


@pytest.fixture
def minio_client(server: S3Server) -> Any:
    minio = pytest.importorskip("minio")
    return minio.Minio(
        f"127.0.0.1:{server.port}", access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False
    )


def test_minio_list_objects_include_user_meta(minio_client: Any, bucket: str) -> None:
    """minio-py's include_user_meta is MinIO's ListObjectsV2 `metadata=true`: user metadata
    under canonical names, the content type, the encryption and the tags of every object.
    The server ignored the parameter and every object listed empty metadata."""
    import io

    from minio.commonconfig import Tags

    tags = Tags.new_object_tags()
    tags["team"] = "blue"
    minio_client.put_object(
        bucket, "doc", io.BytesIO(b"hello"), 5, content_type="text/plain",
        metadata={"x-amz-meta-Creation-Date": "today", "Owner": "me"}, tags=tags,
    )  # fmt: skip
    (listed,) = minio_client.list_objects(bucket, include_user_meta=True)
    assert listed.metadata["X-Amz-Meta-Creation-Date"] == "today"
    assert listed.metadata["X-Amz-Meta-Owner"] == "me"
    assert listed.metadata["content-type"] == "text/plain"
    assert listed.metadata["X-Amz-Server-Side-Encryption"] == "AES256"
    assert dict(listed.tags) == {"team": "blue"}
    (plain,) = minio_client.list_objects(bucket)
    assert not plain.metadata


def test_minio_listen_bucket_notification_fails_cleanly(minio_client: Any, bucket: str) -> None:
    """ListenBucketNotification (GET /bucket?events=...) was answered with a listing, and
    minio-py then waited forever for events. It is NotImplemented now."""
    from minio.error import S3Error

    outcome: list[BaseException] = []

    def listen() -> None:
        try:
            with minio_client.listen_bucket_notification(
                bucket, events=["s3:ObjectCreated:*"]
            ) as e:
                next(iter(e))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "listen_bucket_notification hung"
    assert isinstance(outcome[0], S3Error)
    assert outcome[0].code == "NotImplemented"


def test_minio_bucket_tags_notifications_and_select(minio_client: Any, bucket: str) -> None:
    import io

    from minio.commonconfig import Tags
    from minio.error import S3Error
    from minio.notificationconfig import NotificationConfig, QueueConfig
    from minio.select import CSVInputSerialization, CSVOutputSerialization, SelectRequest

    assert minio_client.get_bucket_tags(bucket) is None
    tags = Tags.new_bucket_tags()
    tags["project"] = "strongroom"
    minio_client.set_bucket_tags(bucket, tags)
    assert dict(minio_client.get_bucket_tags(bucket)) == {"project": "strongroom"}
    minio_client.delete_bucket_tags(bucket)
    assert minio_client.get_bucket_tags(bucket) is None
    # removing notifications (an empty configuration) is true and succeeds; adding one is not
    minio_client.delete_bucket_notification(bucket)
    minio_client.set_bucket_notification(bucket, NotificationConfig())
    queue = QueueConfig(["s3:ObjectCreated:*"], "1", queue="arn:minio:sqs::1:webhook")
    with pytest.raises(S3Error) as info:
        minio_client.set_bucket_notification(bucket, NotificationConfig(queue_config_list=[queue]))
    assert info.value.code == "NotImplemented"
    minio_client.put_object(bucket, "data.csv", io.BytesIO(b"a,b\n1,2\n"), 8)
    request = SelectRequest(
        "select * from S3Object", CSVInputSerialization(), CSVOutputSerialization()
    )
    with pytest.raises(S3Error) as info:
        minio_client.select_object_content(bucket, "data.csv", request)
    assert info.value.code == "NotImplemented"


# -- bucket tagging with boto3 (ceph test_set_bucket_tagging and AWS's limits) --


def test_bucket_tagging_roundtrip_and_limits(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket)
    assert (status(info.value), code(info.value)) == (404, "NoSuchTagSet")
    tag_set = [{"Key": f"k{i}", "Value": "v" * 256} for i in range(49)] + [
        {"Key": "x" * 128, "Value": ""}
    ]
    put = s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tag_set
    for bad, expected in [
        ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "BadRequest"),
        ([{"Key": "x" * 129, "Value": "v"}], "InvalidTag"),
        ([{"Key": "k", "Value": "v" * 257}], "InvalidTag"),
        ([{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}], "InvalidTag"),
    ]:
        with pytest.raises(ClientError) as info:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": bad})
        assert (status(info.value), code(info.value)) == (400, expected)
    assert len(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == 50  # unchanged
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(info.value) == "NoSuchTagSet"
    with pytest.raises(ClientError) as info:
        s3.put_bucket_tagging(Bucket="no-such-bucket-here", Tagging={"TagSet": []})
    assert code(info.value) == "NoSuchBucket"


def test_object_tag_errors_name_the_problem(s3: Any, bucket: str) -> None:
    """Object tag limits as AWS and MinIO answer them: 11 tags is BadRequest, a bad key or
    value or a repeated key InvalidTag with MinIO's message, a Tag without Key MalformedXML."""
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="o",
            Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]},
        )
    assert (status(info.value), code(info.value)) == (400, "BadRequest")
    with pytest.raises(ClientError) as info:
        s3.put_object_tagging(
            Bucket=bucket, Key="o", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]}
        )
    assert info.value.response["Error"]["Message"] == "The TagKey you have provided is invalid"
    with pytest.raises(ClientError) as info:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="o",
            Tagging={"TagSet": [{"Key": "k", "Value": "a"}, {"Key": "k", "Value": "b"}]},
        )
    assert code(info.value) == "InvalidTag"
    assert s3.get_object_tagging(Bucket=bucket, Key="o")["TagSet"] == []
