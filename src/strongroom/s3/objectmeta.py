"""Which request headers an object keeps, and how they come back on GET and HEAD."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from email.utils import formatdate
from urllib.parse import parse_qsl, urlencode

from strongroom.s3.errors import S3Error
from strongroom.s3.storage import ObjectRecord
from strongroom.s3.xmlio import document, element, parse, text

# Standard headers stored with the object and returned as they were given.
STANDARD_HEADERS = (
    "content-type",
    "content-encoding",
    "cache-control",
    "content-disposition",
    "content-language",
    "expires",
    "x-amz-website-redirect-location",
)
USER_PREFIX = "x-amz-meta-"
# Never shown to clients and never carried over by a COPY (sealed keys, KMS ciphertexts...).
INTERNAL_PREFIXES = ("x-internal-", "x-minio-internal-")
MAX_USER_METADATA = 2 * 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
TAGGING = "x-amz-tagging"
MAX_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
# Object-level checksums of multipart objects (JSON; sealed when the object is encrypted).
CHECKSUMS = "x-internal-checksums"
CHECKSUM_ALGORITHM = "x-internal-checksum-algorithm"  # set on uploads: CRC32, SHA256...
CHECKSUM_TYPE = "x-internal-checksum-type"  # COMPOSITE or FULL_OBJECT

# x-amz-storage-class values S3 knows. Every object is stored (and listed) as STANDARD; an
# unknown class is InvalidStorageClass, as in AWS S3 and MinIO.
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "GLACIER_IR",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
)

# response-* query parameters of GetObject and the header each overrides.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


# Object Lock request headers. No bucket here has Object Lock (creating one is refused), so
# a write asking for retention or a legal hold fails as AWS fails it on such a bucket rather
# than storing an object the client believes is protected.
OBJECT_LOCK_HEADERS = (
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)
MSG_NO_OBJECT_LOCK = "Bucket is missing Object Lock Configuration"


def reject_object_lock(headers: Mapping[str, str]) -> None:
    if any(name in headers for name in OBJECT_LOCK_HEADERS):
        raise S3Error("InvalidRequest", MSG_NO_OBJECT_LOCK)


def from_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The metadata a PUT, POST-uploads or REPLACE-copy request sets."""
    reject_object_lock(headers)
    meta: dict[str, str] = {}
    user_size = 0
    for name, value in headers.items():
        if name.startswith(USER_PREFIX):
            meta[name] = value
            user_size += len(name) - len(USER_PREFIX) + len(value)
        elif name == "content-encoding":
            # aws-chunked is the upload's framing, not the object's encoding (S3 drops it)
            kept = [t.strip() for t in value.split(",") if t.strip().lower() != "aws-chunked"]
            if kept:
                meta[name] = ",".join(kept)
        elif name in STANDARD_HEADERS:
            meta[name] = value
    if user_size > MAX_USER_METADATA:
        raise S3Error("MetadataTooLarge")
    if headers.get("x-amz-storage-class", "STANDARD") not in STORAGE_CLASSES:
        raise S3Error("InvalidStorageClass")
    if "x-amz-tagging" in headers:
        meta[TAGGING] = normalise_tagging(headers["x-amz-tagging"])
    return meta


def normalise_tagging(raw: str) -> str:
    tags = parse_qsl(raw, keep_blank_values=True)
    validate_tags(tags)
    return urlencode(tags)


def validate_tags(tags: list[tuple[str, str]], *, bucket: bool = False) -> None:
    """AWS's tag limits: 10 per object (50 per bucket), keys 1-128 and values up to 256
    characters, unique keys. Too many tags is BadRequest, a bad tag InvalidTag (AWS, MinIO)."""
    limit = MAX_BUCKET_TAGS if bucket else MAX_TAGS
    if len(tags) > limit:
        what = "Bucket" if bucket else "Object"
        raise S3Error("BadRequest", f"{what} tags cannot be greater than {limit}", status=400)
    seen: set[str] = set()
    for key, value in tags:
        if not key or len(key) > MAX_TAG_KEY:
            raise S3Error("InvalidTag", "The TagKey you have provided is invalid")
        if len(value) > MAX_TAG_VALUE:
            raise S3Error("InvalidTag", "The TagValue you have provided is invalid")
        if key in seen:
            raise S3Error("InvalidTag", "Cannot provide multiple Tags with the same key")
        seen.add(key)


def parse_tagging(body: bytes, *, bucket: bool = False) -> list[tuple[str, str]]:
    """A PutObjectTagging / PutBucketTagging document, validated."""
    root = parse(body)
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise S3Error("MalformedXML")
    tags: list[tuple[str, str]] = []
    for tag in tag_set.findall("Tag"):
        if tag.find("Key") is None:
            raise S3Error("MalformedXML")
        tags.append((text(tag, "Key"), text(tag, "Value")))
    validate_tags(tags, bucket=bucket)
    return tags


def render_tagging(tags: list[tuple[str, str]]) -> bytes:
    body = "".join("<Tag>" + element("Key", k) + element("Value", v) + "</Tag>" for k, v in tags)
    return document("Tagging", [f"<TagSet>{body}</TagSet>"])


def tags_of(meta: Mapping[str, str]) -> list[tuple[str, str]]:
    return parse_qsl(meta.get(TAGGING, ""), keep_blank_values=True)


def checksum_items(meta: Mapping[str, str]) -> dict[str, str]:
    """The internal entries that describe an object's checksum (algorithm, type and, for
    multipart objects, the object checksum): kept when only the metadata changes."""
    return {k: meta[k] for k in (CHECKSUMS, CHECKSUM_ALGORITHM, CHECKSUM_TYPE) if k in meta}


def checksum_listing(meta: Mapping[str, str]) -> str:
    """ChecksumAlgorithm and ChecksumType of a listed object (AWS lists them), from ``meta``."""
    algorithm = meta.get(CHECKSUM_ALGORITHM)
    if not algorithm:
        return ""
    kind = meta.get(CHECKSUM_TYPE, "COMPOSITE")
    return (
        f"<ChecksumAlgorithm>{algorithm.upper()}</ChecksumAlgorithm>"
        f"<ChecksumType>{kind}</ChecksumType>"
    )


def public_items(meta: Mapping[str, str]) -> dict[str, str]:
    """Metadata a copy with directive COPY carries over (everything but internal entries)."""
    return {k: v for k, v in meta.items() if not k.startswith(INTERNAL_PREFIXES)}


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def http_date(timestamp: float) -> str:
    return _http_date(int(timestamp))


def response_headers(record: ObjectRecord, etag: str) -> list[tuple[str, str]]:
    meta = record.meta
    out = [
        ("ETag", f'"{etag}"'),
        ("Last-Modified", http_date(record.mtime)),
        ("Accept-Ranges", "bytes"),
        ("Content-Type", meta.get("content-type", DEFAULT_CONTENT_TYPE)),
    ]
    for name in STANDARD_HEADERS[1:]:
        if name in meta:
            out.append((name.title() if not name.startswith("x-amz") else name, meta[name]))
    out.extend((name, value) for name, value in meta.items() if name.startswith(USER_PREFIX))
    if meta.get(TAGGING):
        out.append(("x-amz-tagging-count", str(len(tags_of(meta)))))
    return out


def apply_overrides(headers: list[tuple[str, str]], query: Mapping[str, str]) -> None:
    for param, header in RESPONSE_OVERRIDES.items():
        if param in query:
            lower = header.lower()
            headers[:] = [(n, v) for n, v in headers if n.lower() != lower]
            headers.append((header, query[param]))
