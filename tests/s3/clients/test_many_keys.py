"""More keys than one listing page (1,000) and one DeleteObjects request, through every client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from minio import Minio
from tests.s3.clients.helpers import Target, clean_env, require_program, run, unique_bucket

pytestmark = pytest.mark.clients

COUNT = 1_005


def test_more_than_one_page_of_keys(http_target: Target, tmp_path: Path) -> None:
    s3 = http_target.boto3()
    bucket = unique_bucket("many")
    s3.create_bucket(Bucket=bucket)
    # long-ish names make the DeleteObjects body and the listing pages realistically large
    keys = [f"many/{i:05d}-{'n' * 150}" for i in range(COUNT)] + ["other/one"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b""), keys))
    env = clean_env(tmp_path)

    # AWS CLI (ListObjectsV2, continuation token)
    (tmp_path / "credentials").write_text(
        f"[default]\naws_access_key_id = {http_target.access_key}\n"
        f"aws_secret_access_key = {http_target.secret_key}\n"
    )
    (tmp_path / "config").write_text("[default]\nregion = us-east-1\n")
    aws_env = {
        **env,
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    aws = [require_program("aws"), "--endpoint-url", http_target.endpoint]
    out = run([*aws, "s3", "ls", f"s3://{bucket}/many/"], env=aws_env).stdout.decode()
    assert len(out.splitlines()) == COUNT

    # s3cmd (ListObjects v1, marker)
    config = tmp_path / "s3cfg"
    config.write_text(
        f"[default]\naccess_key = {http_target.access_key}\n"
        f"secret_key = {http_target.secret_key}\nhost_base = {http_target.hostport}\n"
        f"host_bucket = {http_target.hostport}\nuse_https = False\nsignature_v2 = False\n"
    )
    out = run(
        [require_program("s3cmd"), "-c", str(config), "ls", f"s3://{bucket}/many/"], env=env
    ).stdout.decode()
    assert len(out.splitlines()) == COUNT

    # rclone, both listing versions
    rclone_conf = tmp_path / "rclone.conf"
    rclone_conf.write_text(
        "[r]\ntype = s3\nprovider = Other\nenv_auth = false\n"
        f"access_key_id = {http_target.access_key}\n"
        f"secret_access_key = {http_target.secret_key}\n"
        f"endpoint = {http_target.endpoint}\nregion = us-east-1\n"
    )
    for version in ("1", "2"):
        out = run(
            [
                require_program("rclone"),
                "--config",
                str(rclone_conf),
                "--low-level-retries",
                "1",
                "--s3-list-version",
                version,
                "lsf",
                f"r:{bucket}/many",
            ],
            env=env,
        ).stdout.decode()
        assert len(out.split()) == COUNT, version

    # minio-py
    mc = Minio(
        http_target.hostport,
        access_key=http_target.access_key,
        secret_key=http_target.secret_key,
        secure=False,
        region="us-east-1",
    )
    assert sum(1 for _ in mc.list_objects(bucket, prefix="many/")) == COUNT

    # aws s3 rm --recursive sends DeleteObjects with 1,000 keys, then the rest
    proc = run([*aws, "s3", "rm", "--recursive", f"s3://{bucket}/many/"], env=aws_env)
    assert proc.stdout.decode().count("delete:") == COUNT
    remaining = s3.list_objects_v2(Bucket=bucket)
    assert [c["Key"] for c in remaining["Contents"]] == ["other/one"]
