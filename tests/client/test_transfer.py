"""cp -r both ways, ls -r, rm -r --force, rb --force, remote-to-remote copies."""

from __future__ import annotations

from pathlib import Path

from tests.client.conftest import Strongroom, lines_json, set_alias, unique
from tests.support.s3server import S3Server

TREE = {
    "a.txt": b"alpha",
    "sub/b.txt": b"bravo",
    "sub/deeper/c.bin": bytes(range(256)),
    "empty.dat": b"",
}


def make_tree(root: Path) -> Path:
    for name, data in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)).replace("\\", "/"): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_recursive_round_trip(sr: Strongroom, local: str, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "photos")
    # without a trailing slash the directory itself is copied
    done = lines_json(sr.ok("cp", "-r", "--json", str(src), f"local/{local}"))
    assert sorted(d["target"] for d in done) == sorted(f"local/{local}/photos/{n}" for n in TREE)
    listing = lines_json(sr.ok("ls", "-r", "--json", f"local/{local}"))
    assert sorted(e["key"] for e in listing) == sorted(f"photos/{n}" for n in TREE)
    assert all(e["type"] == "file" for e in listing)
    sizes = {e["key"]: e["size"] for e in listing}
    assert sizes["photos/sub/deeper/c.bin"] == 256

    # back down: prefix without slash keeps its name, with slash copies the contents
    sr.ok("cp", "-r", f"local/{local}/photos", str(tmp_path / "down1"))
    assert read_tree(tmp_path / "down1" / "photos") == TREE
    sr.ok("cp", "-r", f"local/{local}/photos/", str(tmp_path / "down2"))
    assert read_tree(tmp_path / "down2") == TREE
    # a whole bucket copies its contents
    sr.ok("cp", "--recursive", f"local/{local}", str(tmp_path / "down3"))
    assert read_tree(tmp_path / "down3" / "photos") == TREE


def test_directory_contents_with_trailing_slash(sr: Strongroom, local: str, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    sr.ok("cp", "-r", f"{src}/", f"local/{local}/backup/")
    keys = [e["key"] for e in lines_json(sr.ok("ls", "-r", "--json", f"local/{local}/backup/"))]
    assert sorted(keys) == sorted(TREE)


def test_directory_needs_recursive(sr: Strongroom, local: str, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    result = sr("cp", str(tmp_path / "src"), f"local/{local}/")
    assert result.exit_code == 2
    assert "--recursive" in result.stderr


def test_ls_levels(sr: Strongroom, local: str, tmp_path: Path) -> None:
    sr.ok("cp", "-r", f"{make_tree(tmp_path / 't')}/", f"local/{local}/")
    top = lines_json(sr.ok("ls", "--json", f"local/{local}"))
    assert [(e["key"], e["type"]) for e in top] == [
        ("a.txt", "file"),
        ("empty.dat", "file"),
        ("sub/", "folder"),
    ]
    # a prefix without its trailing slash lists the folder's contents
    sub = lines_json(sr.ok("ls", "--json", f"local/{local}/sub"))
    assert [(e["key"], e["type"]) for e in sub] == [("b.txt", "file"), ("deeper/", "folder")]
    # an object by its name
    one = lines_json(sr.ok("ls", "--json", f"local/{local}/a.txt"))
    assert [(e["key"], e["size"]) for e in one] == [("a.txt", 5)]
    text = sr.ok("ls", f"local/{local}").stdout.splitlines()
    assert text[0].startswith("[") and text[0].endswith(" 5B STANDARD a.txt")
    assert text[2].endswith(" sub/")
    # buckets of the alias
    buckets = lines_json(sr.ok("ls", "--json", "local"))
    assert {"key": f"{local}/", "type": "folder"}.items() <= next(
        b for b in buckets if b["key"] == f"{local}/"
    ).items()


def test_rm_recursive_needs_force(sr: Strongroom, local: str, tmp_path: Path) -> None:
    sr.ok("cp", "-r", f"{make_tree(tmp_path / 't')}/", f"local/{local}/")
    (tmp_path / "keep").write_bytes(b"x")
    sr.ok("cp", str(tmp_path / "keep"), f"local/{local}/subway")  # shares "sub" as a prefix

    refused = sr("rm", "-r", f"local/{local}/sub")
    assert refused.exit_code == 2
    assert "--force" in refused.stderr
    assert len(lines_json(sr.ok("ls", "-r", "--json", f"local/{local}"))) == 5

    removed = lines_json(sr.ok("rm", "-r", "--force", "--json", f"local/{local}/sub"))
    assert sorted(r["key"] for r in removed) == [
        f"local/{local}/sub/b.txt",
        f"local/{local}/sub/deeper/c.bin",
    ]
    left = [e["key"] for e in lines_json(sr.ok("ls", "-r", "--json", f"local/{local}"))]
    assert left == ["a.txt", "empty.dat", "subway"]

    sr.ok("rm", f"local/{local}/a.txt")
    missing = sr("rm", f"local/{local}/a.txt")
    assert missing.exit_code == 3 and "NoSuchKey" in missing.stderr


def test_rb(sr: Strongroom, local: str, tmp_path: Path) -> None:
    sr.ok("cp", "-r", f"{make_tree(tmp_path / 't')}/", f"local/{local}/")
    not_empty = sr("rb", f"local/{local}")
    assert not_empty.exit_code == 1 and "BucketNotEmpty" in not_empty.stderr
    sr.ok("rb", "--force", f"local/{local}")
    gone = sr("ls", f"local/{local}")
    assert gone.exit_code == 3 and "NoSuchBucket" in gone.stderr
    # mb -p on an existing bucket is fine, without -p it is an error
    again = unique()
    sr.ok("mb", f"local/{again}")
    assert sr("mb", f"local/{again}").exit_code == 1
    sr.ok("mb", "-p", f"local/{again}")


def test_server_side_copy(sr: Strongroom, local: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"copy me")
    sr.ok("cp", str(tmp_path / "f"), f"local/{local}/one/f")
    other = unique()
    sr.ok("mb", f"local/{other}")
    sr.ok("cp", f"local/{local}/one/f", f"local/{other}/two/g")
    assert sr.ok("cat", f"local/{other}/two/g").stdout_bytes == b"copy me"
    sr.ok("cp", "-r", f"local/{local}/one", f"local/{other}/tree/")
    assert sr.ok("cat", f"local/{other}/tree/one/f").stdout_bytes == b"copy me"
    stat = lines_json(sr.ok("stat", "--json", f"local/{other}/two/g"))[0]
    assert stat["encryption"]["X-Amz-Server-Side-Encryption"] == "AES256"


def test_several_sources(sr: Strongroom, local: str, tmp_path: Path) -> None:
    for name in ("x", "y"):
        (tmp_path / name).write_bytes(name.encode())
    sr.ok("cp", str(tmp_path / "x"), str(tmp_path / "y"), f"local/{local}/many")
    keys = [e["key"] for e in lines_json(sr.ok("ls", "-r", "--json", f"local/{local}"))]
    assert keys == ["many/x", "many/y"]


def test_cross_alias_copy_streams(sr: Strongroom, server: S3Server, tmp_path: Path) -> None:
    """Two aliases (even for one server) cannot copy server-side: bytes stream through."""
    set_alias(sr, "left", server.endpoint)
    set_alias(sr, "right", server.endpoint)
    a, b = unique(), unique()
    sr.ok("mb", f"left/{a}")
    sr.ok("mb", f"right/{b}")
    (tmp_path / "s.txt").write_bytes(b"stream")
    sr.ok("cp", str(tmp_path / "s.txt"), f"left/{a}/")
    sr.ok("cp", f"left/{a}/s.txt", f"right/{b}/t.txt")
    stat = lines_json(sr.ok("stat", "--json", f"right/{b}/t.txt"))[0]
    assert stat["metadata"]["Content-Type"] == "text/plain"
    assert sr.ok("cat", f"right/{b}/t.txt").stdout_bytes == b"stream"


def test_missing_sources(sr: Strongroom, local: str, tmp_path: Path) -> None:
    result = sr("cp", str(tmp_path / "nope"), f"local/{local}/")
    assert result.exit_code == 3
    result = sr("cp", f"local/{local}/nope", str(tmp_path / "x"))
    assert result.exit_code == 3 and "NoSuchKey" in result.stderr
    result = sr("cp", "-r", f"local/{local}/nope", str(tmp_path / "x"))
    assert result.exit_code == 3
    result = sr("cp", str(tmp_path / "a"), str(tmp_path / "b"))
    assert result.exit_code == 2
