"""``mb`` and ``rb``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from strongroom.client.connection import Connections
from strongroom.client.errors import ClientError, translate
from strongroom.client.objects import remove_tree
from strongroom.client.paths import RemotePath

__all__ = ["make_bucket", "remove_bucket"]


def make_bucket(
    conns: Connections,
    path: RemotePath,
    *,
    ignore_existing: bool = False,
    region: str | None = None,
) -> bool:
    """Create the bucket; ``False`` when it existed and ``ignore_existing`` was given."""
    path.require_bucket("mb")
    if path.key:
        raise ClientError(f"mb: `{path}` is an object path: give ALIAS/BUCKET")
    client = conns.s3(path.alias)
    region = region or conns.alias(path.alias).region
    kwargs: dict[str, object] = {"Bucket": path.bucket}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        with translate("Unable to make bucket", str(path)):
            client.create_bucket(**kwargs)
    except ClientError as exc:
        if ignore_existing and exc.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return False
        raise
    return True


def remove_bucket(conns: Connections, path: RemotePath, *, force: bool = False) -> Iterator[str]:
    """Remove the bucket; with ``force`` first its objects (yielded) and pending uploads."""
    path.require_bucket("rb")
    if path.key:
        raise ClientError(f"rb: `{path}` is an object path: give ALIAS/BUCKET")
    client = conns.s3(path.alias)
    if force:
        yield from remove_tree(conns, RemotePath(path.alias, path.bucket))
        with contextlib.suppress(ClientError), translate("Unable to list uploads", str(path)):
            paginator = client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=path.bucket):
                for upload in page.get("Uploads", []):
                    client.abort_multipart_upload(
                        Bucket=path.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
    with translate("Unable to remove bucket", str(path)):
        client.delete_bucket(Bucket=path.bucket)
