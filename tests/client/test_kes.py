"""The guide's architecture through the client: object server on the key server (mTLS), the
object server over HTTPS; admin kms status/key create/key status, auto-encryption and
--enc-kms with a key created through the admin API."""

from __future__ import annotations

from pathlib import Path

from tests.client.conftest import Strongroom, lines_json, set_alias
from tests.support.kesserver import KESServer
from tests.support.s3server import S3Server


def test_guide_on_the_key_server(sr: Strongroom, tmp_path: Path) -> None:
    with KESServer(tmp_path / "kes") as kes:
        env = kes.object_server_env() | {"MINIO_KMS_AUTO_ENCRYPTION": "on"}
        with S3Server(tmp_path / "data", tls=True, env=env) as server:
            assert server.ca_path is not None
            set_alias(sr, "myminio", server.endpoint, "--ca", str(server.ca_path))

            (status,) = lines_json(sr.ok("admin", "kms", "status", "--json", "myminio"))
            assert status["defaultKeyID"] == "minio-key-1"
            assert status["endpoints"] == {kes.endpoint: "online"}
            text = sr.ok("admin", "kms", "key", "status", "myminio").stdout.splitlines()
            assert text == ["Key: minio-key-1", "   - Encryption ✔", "   - Decryption ✔"]

            created = lines_json(
                sr.ok("admin", "kms", "key", "create", "--json", "myminio", "minio-key-2")
            )
            assert created == [{"status": "success", "key": "minio-key-2"}]
            again = sr("admin", "kms", "key", "create", "myminio", "minio-key-2")
            assert again.exit_code == 1 and "kms:KeyAlreadyExists" in again.stderr
            outside = sr("admin", "kms", "key", "create", "myminio", "other-key")
            assert outside.exit_code != 0  # the key server's policy allows minio-* only
            sr.ok("admin", "kms", "key", "status", "myminio", "minio-key-2")

            # the guide: cp into crypt/, stat shows AES256, bytes back identical
            (tmp_path / "test.file").write_bytes(b"hello")
            sr.ok("mb", "myminio/crypt")
            sr.ok("cp", str(tmp_path / "test.file"), "myminio/crypt/")
            lines = sr.ok("stat", "myminio/crypt/test.file").stdout.splitlines()
            assert lines[lines.index("Encrypted :") + 1] == "  X-Amz-Server-Side-Encryption: AES256"
            assert sr.ok("cat", "myminio/crypt/test.file").stdout_bytes == b"hello"

            # SSE-KMS under the key created through the admin API
            sr.ok("cp", "--enc-kms", "minio-key-2", str(tmp_path / "test.file"), "myminio/crypt/k")
            (info,) = lines_json(sr.ok("stat", "--json", "myminio/crypt/k"))
            assert info["encryption"]["X-Amz-Server-Side-Encryption"] == "aws:kms"
            assert info["encryption"]["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"].endswith(
                "minio-key-2"
            )
            assert sr.ok("cat", "myminio/crypt/k").stdout_bytes == b"hello"

            # key server down: a clear 503 with the S3 error code, then service resumes
            kes.stop()
            down = sr("cat", "myminio/crypt/test.file")
            assert down.exit_code == 1 and "HTTP 503" in down.stderr
            kes.start()
            assert sr.ok("cat", "myminio/crypt/test.file").stdout_bytes == b"hello"
