"""The S3 client behind ``strongroom alias/ls/cp/stat/...`` and ``strongroom admin kms``.

Works against any S3 server (boto3 underneath). Modules:

- ``aliases``: the alias store (``config.json``, 0600, atomic writes)
- ``paths``: ``ALIAS/BUCKET/KEY`` versus local paths
- ``sse``: ``--enc-s3``, ``--enc-kms``, ``--enc-c`` options
- ``connection``: boto3 clients per alias (addressing style, TLS)
- ``listing``, ``objects``, ``buckets``, ``transfer``: the operations
- ``admin``: the admin KMS API
- ``progress``, ``formatting``: what the terminal shows
- ``errors``: the exception tree and exit codes
"""

from __future__ import annotations

from strongroom.client.aliases import Alias, AliasStore
from strongroom.client.connection import Connections
from strongroom.client.errors import (
    AccessError,
    ClientError,
    ConnectionFailed,
    NotFoundError,
    UsageError,
)
from strongroom.client.paths import LocalPath, RemotePath, parse_target
from strongroom.client.sse import Encryption, parse_encryption

__all__ = [
    "AccessError",
    "Alias",
    "AliasStore",
    "ClientError",
    "ConnectionFailed",
    "Connections",
    "Encryption",
    "LocalPath",
    "NotFoundError",
    "RemotePath",
    "UsageError",
    "parse_encryption",
    "parse_target",
]
