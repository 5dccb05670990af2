"""The guide's client steps with our CLI: alias set, mb, cp a file into crypt/, stat shows
`X-Amz-Server-Side-Encryption: AES256` (the embedded default server encrypts with SSE-S3),
and the bytes come back identical through cat and cp."""

from __future__ import annotations

from pathlib import Path

from tests.client.conftest import Strongroom, lines_json, set_alias, unique
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server


def test_guide_flow_as_subprocess(sr: Strongroom, server: S3Server, tmp_path: Path) -> None:
    """The real `strongroom` entry point, as a user types it."""
    test_file = tmp_path / "test.file"
    test_file.write_bytes(b"hello")
    bucket = unique("crypt")

    done = sr.process("alias", "set", "myminio", server.endpoint, ACCESS_KEY, SECRET_KEY)
    assert done.returncode == 0, done.stderr
    assert SECRET_KEY.encode() not in done.stdout + done.stderr
    assert sr.process("mb", f"myminio/{bucket}").returncode == 0

    done = sr.process("cp", str(test_file), f"myminio/{bucket}/")
    assert done.returncode == 0, done.stderr
    assert f"myminio/{bucket}/test.file".encode() in done.stdout
    assert b"\x1b[" not in done.stdout  # no progress bar when stdout is not a terminal

    done = sr.process("stat", f"myminio/{bucket}/test.file")
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    lines = text.splitlines()
    assert lines[0] == "Name      : test.file"
    assert "Size      : 5 B" in lines
    assert "Type      : file" in lines
    assert any(line.startswith("ETag      : ") for line in lines)
    assert any(line.startswith("Date      : ") and line.endswith(" UTC") for line in lines)
    encrypted = lines.index("Encrypted :")
    assert lines[encrypted + 1] == "  X-Amz-Server-Side-Encryption: AES256"

    done = sr.process("cat", f"myminio/{bucket}/test.file")
    assert (done.returncode, done.stdout) == (0, b"hello")


def test_guide_flow_in_process(sr: Strongroom, server: S3Server, tmp_path: Path) -> None:
    set_alias(sr, "myminio", server.endpoint)
    bucket = unique("crypt")
    sr.ok("mb", f"myminio/{bucket}")
    payload = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "test.file").write_bytes(payload)
    sr.ok("cp", str(tmp_path / "test.file"), f"myminio/{bucket}/")

    stat = lines_json(sr.ok("stat", "--json", f"myminio/{bucket}/test.file"))[0]
    assert stat["encryption"] == {"X-Amz-Server-Side-Encryption": "AES256"}
    assert stat["size"] == len(payload)

    assert sr.ok("cat", f"myminio/{bucket}/test.file").stdout_bytes == payload
    back = tmp_path / "back.file"
    sr.ok("cp", f"myminio/{bucket}/test.file", str(back))
    assert back.read_bytes() == payload
    # into an existing directory: the object's own name
    (tmp_path / "dir").mkdir()
    sr.ok("cp", f"myminio/{bucket}/test.file", str(tmp_path / "dir"))
    assert (tmp_path / "dir" / "test.file").read_bytes() == payload


def test_multipart_upload_and_download(sr: Strongroom, local: str, tmp_path: Path) -> None:
    """Above the 16 MiB threshold boto3 uploads in parts; the server encrypts each."""
    import os

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024 + 5))
    sr.ok("cp", str(big), f"local/{local}/big.bin")
    stat = lines_json(sr.ok("stat", "--json", f"local/{local}/big.bin"))[0]
    assert stat["size"] == big.stat().st_size
    assert stat["etag"].endswith("-2")
    assert stat["encryption"]["X-Amz-Server-Side-Encryption"] == "AES256"
    sr.ok("cp", f"local/{local}/big.bin", str(tmp_path / "big.back"))
    assert (tmp_path / "big.back").read_bytes() == big.read_bytes()


def test_progress_bar_on_a_real_terminal(sr: Strongroom, local: str, tmp_path: Path) -> None:
    """On a pseudo-terminal cp draws the bar: file name, sizes, percentage and speed."""
    import os
    import pty
    import subprocess
    import sys

    (tmp_path / "test.file").write_bytes(os.urandom(3 * 1024 * 1024))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRONGROOM_"))}
    env.update({"STRONGROOM_CONFIG_DIR": str(sr.config_dir), "COLUMNS": "120", "TERM": "xterm"})
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "strongroom", "cp", str(tmp_path / "test.file"), f"local/{local}/"],
        env=env,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        output += data
    os.close(master)
    assert process.wait(30) == 0, output
    text = output.decode(errors="replace")
    assert "test.file" in text
    assert "3.0/3.0 MiB" in text
    assert "100%" in text
    assert "B/s" in text
