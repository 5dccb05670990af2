"""aws-chunked decoding: AWS's published vectors, botocore's framing, random slicing, refusals."""

from __future__ import annotations

import hashlib
import hmac
import io
import random

import pytest
from botocore import httpchecksum
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.s3.checksums import Checksummer, compute_checksum
from strongroom.s3.chunked import ChunkedDecoder
from strongroom.s3.errors import S3Error
from strongroom.s3.sigv4 import EMPTY_SHA256, AuthResult, PayloadMode, derive_signing_key

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY = derive_signing_key(AWS_SECRET, "20130524", "us-east-1")
SCOPE = "20130524/us-east-1/s3/aws4_request"
DATE = "20130524T000000Z"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_DATA = b"a" * 66560


def auth(mode: PayloadMode, seed: str = SEED) -> AuthResult:
    return AuthResult(
        access_key="AKIAIOSFODNN7EXAMPLE",
        payload=mode,
        expected_sha256=None,
        signature=seed,
        signing_key=KEY,
        scope=SCOPE,
        amz_date=DATE,
        region="us-east-1",
        signed_headers=("host",),
    )


def doc_body(signatures: tuple[str, str, str] | None = None) -> bytes:
    """The chunk-signed PUT of AWS's "Transferring Payload in Multiple Chunks" example."""
    s = signatures or (
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    )
    return (
        f"10000;chunk-signature={s[0]}\r\n".encode()
        + DOC_DATA[:65536]
        + f"\r\n400;chunk-signature={s[1]}\r\n".encode()
        + DOC_DATA[65536:]
        + f"\r\n0;chunk-signature={s[2]}\r\n\r\n".encode()
    )


DOC_TRAILER_BODY = (
    b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
    + DOC_DATA[:65536]
    + b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
    + DOC_DATA[65536:]
    + b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
    + b"\r\n"
)


def decode(
    decoder: ChunkedDecoder, body: bytes, splits: list[int] | None = None
) -> tuple[bytes, dict[str, str]]:
    out = bytearray()
    points = sorted(set(splits or []))
    start = 0
    for point in [*points, len(body)]:
        for piece in decoder.feed(body[start:point]):
            out += piece
        start = point
    return bytes(out), decoder.finish()


def refused(
    code: str, decoder: ChunkedDecoder, body: bytes, splits: list[int] | None = None
) -> None:
    with pytest.raises(S3Error) as info:
        decode(decoder, body, splits)
    assert info.value.code == code, info.value.message


# --- the published vectors ----------------------------------------------------------------------


def test_aws_example_signed_chunks() -> None:
    body = doc_body()
    assert len(body) == 66824  # the example's Content-Length
    data, trailers = decode(
        ChunkedDecoder(auth(PayloadMode.STREAMING_SIGNED), decoded_length=66560), body
    )
    assert data == DOC_DATA
    assert trailers == {}


def test_aws_example_signed_trailer() -> None:
    decoder = ChunkedDecoder(
        auth(PayloadMode.STREAMING_SIGNED_TRAILER, TRAILER_SEED), decoded_length=66560
    )
    data, trailers = decode(decoder, DOC_TRAILER_BODY, [100, 65600, 66700])
    assert data == DOC_DATA
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert compute_checksum("crc32c", data) == "sOO8/Q=="


def test_aws_example_signed_trailer_tampered() -> None:
    mode = PayloadMode.STREAMING_SIGNED_TRAILER
    for old, new in [(b"sOO8/Q==", b"sOO8/A=="), (b"signature:d81f", b"signature:d81e")]:
        body = DOC_TRAILER_BODY.replace(old, new)
        refused(
            "SignatureDoesNotMatch",
            ChunkedDecoder(auth(mode, TRAILER_SEED), decoded_length=None),
            body,
        )
    unsigned = DOC_TRAILER_BODY.replace(
        b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n",
        b"",
    )
    refused(
        "IncompleteBody", ChunkedDecoder(auth(mode, TRAILER_SEED), decoded_length=None), unsigned
    )


def test_signed_trailer_tolerates_lf_lines() -> None:
    body = DOC_TRAILER_BODY.replace(
        b"\r\nx-amz-trailer-signature:", b"\n\r\nx-amz-trailer-signature:"
    )
    decoder = ChunkedDecoder(
        auth(PayloadMode.STREAMING_SIGNED_TRAILER, TRAILER_SEED), decoded_length=66560
    )
    assert decode(decoder, body)[1] == {"x-amz-checksum-crc32c": "sOO8/Q=="}


@pytest.mark.parametrize("index", [0, 1, 2])
def test_any_changed_chunk_signature_is_refused(index: int) -> None:
    good = list(doc_body().split(b"chunk-signature=")[1 + i][:64].decode() for i in range(3))
    good[index] = good[index][:-1] + ("0" if good[index][-1] != "0" else "1")
    body = doc_body((good[0], good[1], good[2]))
    decoder = ChunkedDecoder(auth(PayloadMode.STREAMING_SIGNED), decoded_length=66560)
    refused("SignatureDoesNotMatch", decoder, body)


def test_changed_data_byte_is_refused_before_release() -> None:
    body = bytearray(doc_body())
    body[5000] ^= 1
    decoder = ChunkedDecoder(auth(PayloadMode.STREAMING_SIGNED), decoded_length=66560)
    # Fed in 4 KiB slices: nothing of the first (bad) chunk may come out before its check.
    released = 0
    with pytest.raises(S3Error) as info:
        for i in range(0, len(body), 4096):
            released += sum(len(p) for p in decoder.feed(bytes(body[i : i + 4096])))
    assert info.value.code == "SignatureDoesNotMatch"
    assert released == 0


def test_wrong_seed_is_refused() -> None:
    decoder = ChunkedDecoder(auth(PayloadMode.STREAMING_SIGNED, "0" * 64), decoded_length=66560)
    refused("SignatureDoesNotMatch", decoder, doc_body())


# --- an encoder from the spec, for random bodies ------------------------------------------------


def chunk_signature(previous: str, data: bytes) -> str:
    sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{DATE}\n{SCOPE}\n{previous}\n{EMPTY_SHA256}\n"
    sts += hashlib.sha256(data).hexdigest()
    return hmac.new(KEY, sts.encode(), hashlib.sha256).hexdigest()


def encode(
    mode: PayloadMode,
    payload: bytes,
    sizes: list[int],
    trailers: dict[str, str] | None = None,
    seed: str = SEED,
) -> bytes:
    """Frame ``payload`` into chunks of ``sizes`` (cycled) and a final empty chunk."""
    out = bytearray()
    previous = seed
    pos = 0
    index = 0
    while True:
        size = min(sizes[index % len(sizes)], len(payload) - pos) if pos < len(payload) else 0
        index += 1
        data = payload[pos : pos + size]
        pos += size
        header = f"{size:x}"
        if mode.has_chunk_signatures:
            previous = chunk_signature(previous, data)
            header += f";chunk-signature={previous}"
        out += header.encode() + b"\r\n"
        if size == 0:
            break
        out += data + b"\r\n"
    lines = "".join(f"{n}:{v}\n" for n, v in (trailers or {}).items())
    for name, value in (trailers or {}).items():
        out += f"{name}:{value}\r\n".encode()
    if mode is PayloadMode.STREAMING_SIGNED_TRAILER:
        sts = f"AWS4-HMAC-SHA256-TRAILER\n{DATE}\n{SCOPE}\n{previous}\n"
        sts += hashlib.sha256(lines.encode()).hexdigest()
        out += (
            b"x-amz-trailer-signature:"
            + hmac.new(KEY, sts.encode(), hashlib.sha256).hexdigest().encode()
        )
        out += b"\r\n"
    out += b"\r\n"
    return bytes(out)


def test_encoder_reproduces_the_aws_examples() -> None:
    assert encode(PayloadMode.STREAMING_SIGNED, DOC_DATA, [65536]) == doc_body()
    trailer = {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert (
        encode(PayloadMode.STREAMING_SIGNED_TRAILER, DOC_DATA, [65536], trailer, TRAILER_SEED)
        == DOC_TRAILER_BODY
    )


CHUNKED_MODES = [
    PayloadMode.STREAMING_SIGNED,
    PayloadMode.STREAMING_SIGNED_TRAILER,
    PayloadMode.STREAMING_UNSIGNED_TRAILER,
]


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(CHUNKED_MODES),
    payload=st.binary(max_size=3000),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_random_slicing_gives_identical_output(
    mode: PayloadMode, payload: bytes, sizes: list[int], seed: int
) -> None:
    trailers = (
        {}
        if mode is PayloadMode.STREAMING_SIGNED
        else {"x-amz-checksum-crc32": compute_checksum("crc32", payload)}
    )
    body = encode(mode, payload, sizes, trailers)
    rng = random.Random(seed)
    splits = rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 12)))
    data, got = decode(ChunkedDecoder(auth(mode), decoded_length=len(payload)), body, splits)
    assert data == payload
    assert got == trailers
    # Byte by byte, and as a mutable buffer that is overwritten after each feed.
    decoder = ChunkedDecoder(auth(mode), decoded_length=len(payload))
    out = bytearray()
    buffer = bytearray(1)
    for byte in body:
        buffer[0] = byte
        for piece in decoder.feed(buffer):
            out += piece
    assert bytes(out) == payload
    assert decoder.finish() == trailers


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(CHUNKED_MODES),
    payload=st.binary(min_size=1, max_size=2000),
    cut=st.integers(0, 10**6),
)
def test_truncated_stream_is_incomplete(mode: PayloadMode, payload: bytes, cut: int) -> None:
    trailers = (
        {}
        if mode is PayloadMode.STREAMING_SIGNED
        else {"x-amz-checksum-sha1": compute_checksum("sha1", payload)}
    )
    body = encode(mode, payload, [512], trailers)
    body = body[: cut % len(body)]
    decoder = ChunkedDecoder(auth(mode), decoded_length=len(payload))
    if mode is PayloadMode.STREAMING_UNSIGNED_TRAILER and body.endswith(b"\r\n0\r\n"):
        # Cut right after the last chunk: well framed (some SDKs end there), but the declared
        # trailer is missing, which the checksummer refuses.
        data, trailers = decode(decoder, body)
        checksummer = Checksummer.from_headers({"x-amz-trailer": "x-amz-checksum-sha1"})
        checksummer.update(data)
        with pytest.raises(S3Error) as info:
            checksummer.verify(trailers)
        assert info.value.code == "InvalidRequest"
        return
    with pytest.raises(S3Error) as info:
        decode(decoder, body)
    assert info.value.code == "IncompleteBody"


@settings(max_examples=80, deadline=None)
@given(
    payload=st.binary(min_size=1, max_size=1500), where=st.integers(0, 10**6), bit=st.integers(0, 7)
)
def test_any_flipped_bit_in_a_signed_body_is_refused(payload: bytes, where: int, bit: int) -> None:
    mode = PayloadMode.STREAMING_SIGNED_TRAILER
    body = bytearray(
        encode(mode, payload, [400], {"x-amz-checksum-crc32": compute_checksum("crc32", payload)})
    )
    body[where % len(body)] ^= 1 << bit
    decoder = ChunkedDecoder(auth(mode), decoded_length=None)
    try:
        data, trailers = decode(decoder, bytes(body))
    except S3Error as error:
        assert error.code in {"SignatureDoesNotMatch", "IncompleteBody", "InvalidArgument"}
    else:
        # Only a change that means the same may pass: the case of a trailer name.
        assert data == payload
        assert trailers == {"x-amz-checksum-crc32": compute_checksum("crc32", payload)}


def test_swapped_chunks_are_refused() -> None:
    payload = bytes(range(256)) * 40
    body = encode(PayloadMode.STREAMING_SIGNED, payload, [1024])
    chunks = body.split(b"400;chunk-signature=")
    swapped = chunks[0] + b"400;chunk-signature=".join([b"", chunks[2], chunks[1], *chunks[3:]])
    assert len(swapped) == len(body)
    refused(
        "SignatureDoesNotMatch",
        ChunkedDecoder(auth(PayloadMode.STREAMING_SIGNED), decoded_length=None),
        swapped,
    )


# --- unsigned trailers, as botocore frames them ---------------------------------------------------


def botocore_frame(payload: bytes, algorithm: str = "crc32", chunk_size: int = 4096) -> bytes:
    checksum_cls = {
        "crc32": httpchecksum.Crc32Checksum,
        "sha1": httpchecksum.Sha1Checksum,
        "sha256": httpchecksum.Sha256Checksum,
    }[algorithm]
    wrapper = httpchecksum.AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=checksum_cls,
        checksum_name=f"x-amz-checksum-{algorithm}",
        chunk_size=chunk_size,
    )
    return bytes(wrapper.read())


@pytest.mark.parametrize("algorithm", ["crc32", "sha1", "sha256"])
def test_botocore_unsigned_trailer_body(algorithm: str) -> None:
    payload = random.Random(1).randbytes(100_000)
    body = botocore_frame(payload, algorithm)
    decoder = ChunkedDecoder(
        auth(PayloadMode.STREAMING_UNSIGNED_TRAILER), decoded_length=len(payload)
    )
    checksummer = Checksummer.from_headers({"x-amz-trailer": f"x-amz-checksum-{algorithm}"})
    out = bytearray()
    for i in range(0, len(body), 65536):
        for piece in decoder.feed(memoryview(body)[i : i + 65536]):
            checksummer.update(piece)
            out += piece
    trailers = decoder.finish()
    assert bytes(out) == payload
    checksummer.verify(trailers)
    assert checksummer.checksums()[algorithm] == trailers[f"x-amz-checksum-{algorithm}"]


def test_bad_trailer_checksum_is_bad_digest() -> None:
    payload = b"hello world" * 1000
    body = botocore_frame(payload).replace(
        compute_checksum("crc32", payload).encode(), compute_checksum("crc32", b"x").encode()
    )
    decoder = ChunkedDecoder(
        auth(PayloadMode.STREAMING_UNSIGNED_TRAILER), decoded_length=len(payload)
    )
    checksummer = Checksummer.from_headers({"x-amz-trailer": "x-amz-checksum-crc32"})
    data, trailers = decode(decoder, body)
    checksummer.update(data)
    with pytest.raises(S3Error) as info:
        checksummer.verify(trailers)
    assert info.value.code == "BadDigest"
    assert info.value.message == "The CRC32 you specified did not match the calculated checksum."


def test_unsigned_body_ending_after_last_chunk() -> None:
    body = b"5\r\nhello\r\n0\r\n"
    decoder = ChunkedDecoder(auth(PayloadMode.STREAMING_UNSIGNED_TRAILER), decoded_length=5)
    assert decode(decoder, body) == (b"hello", {})


def test_zero_length_bodies() -> None:
    for mode in CHUNKED_MODES:
        trailers = (
            {} if mode is PayloadMode.STREAMING_SIGNED else {"x-amz-checksum-crc32": "AAAAAA=="}
        )
        body = encode(mode, b"", [10], trailers)
        assert decode(ChunkedDecoder(auth(mode), decoded_length=0), body) == (b"", trailers)


# --- refusals -----------------------------------------------------------------------------------

UNSIGNED = PayloadMode.STREAMING_UNSIGNED_TRAILER


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # size not hex
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after the size
        b"5\r\nhelloXX0\r\n\r\n",  # no CRLF after the data
        b"5\r\nhello\r\n0\r\n\r\nextra",  # bytes after the end
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nno-colon\r\n\r\n",  # malformed trailer
        b"",
        b"5\r\nhel",
    ],
)
def test_malformed_framing(body: bytes) -> None:
    refused("IncompleteBody", ChunkedDecoder(auth(UNSIGNED), decoded_length=None), body)


def test_decoded_length_is_held() -> None:
    body = b"5\r\nhello\r\n0\r\n\r\n"
    refused("IncompleteBody", ChunkedDecoder(auth(UNSIGNED), decoded_length=4), body)
    refused("IncompleteBody", ChunkedDecoder(auth(UNSIGNED), decoded_length=6), body)
    assert decode(ChunkedDecoder(auth(UNSIGNED), decoded_length=None), body)[0] == b"hello"


def test_limits() -> None:
    refused(
        "InvalidArgument",
        ChunkedDecoder(auth(UNSIGNED), decoded_length=None, max_chunk_size=4),
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    refused(
        "InvalidArgument",
        ChunkedDecoder(auth(UNSIGNED), decoded_length=None),
        b"5;" + b"x" * 5000 + b"\r\n",
    )
    many = (
        b"0\r\n" + b"".join(b"x-amz-meta-%d:%s\r\n" % (i, b"v" * 500) for i in range(40)) + b"\r\n"
    )
    refused("InvalidArgument", ChunkedDecoder(auth(UNSIGNED), decoded_length=None), many)
    dup = b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    refused("InvalidArgument", ChunkedDecoder(auth(UNSIGNED), decoded_length=None), dup)


def test_signed_chunks_need_signatures() -> None:
    mode = PayloadMode.STREAMING_SIGNED
    refused(
        "IncompleteBody",
        ChunkedDecoder(auth(mode), decoded_length=None),
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    refused(
        "SignatureDoesNotMatch",
        ChunkedDecoder(auth(mode), decoded_length=None),
        b"5;chunk-signature=xyz\r\nhello\r\n",
    )
    # Trailers where none were declared.
    body = encode(mode, b"hello", [5])[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    refused("IncompleteBody", ChunkedDecoder(auth(mode), decoded_length=None), body)


def test_not_a_chunked_mode() -> None:
    with pytest.raises(ValueError):
        ChunkedDecoder(auth(PayloadMode.UNSIGNED), decoded_length=None)


def test_large_chunks_are_not_copied() -> None:
    payload = bytes(1 << 20)
    body = encode(
        UNSIGNED, payload, [1 << 20], {"x-amz-checksum-crc32": compute_checksum("crc32", payload)}
    )
    decoder = ChunkedDecoder(auth(UNSIGNED), decoded_length=len(payload))
    header_end = body.index(b"\r\n") + 2
    assert decoder.feed(body[:header_end]) == []
    middle = body[header_end : header_end + 65536]
    pieces = decoder.feed(middle)
    assert len(pieces) == 1 and pieces[0] is middle


def test_long_lines_within_the_limit_straddle_feeds() -> None:
    extension = b";ext=" + b"e" * 1000
    trailer = b"x-amz-meta-long:" + b"v" * 2000
    body = b"5" + extension + b"\r\nhello\r\n0\r\n" + trailer + b"\r\n\r\n"
    for splits in ([], list(range(1, len(body))), [3, 200, 1500, 2600]):
        decoder = ChunkedDecoder(auth(UNSIGNED), decoded_length=5)
        data, trailers = decode(decoder, body, splits)
        assert data == b"hello"
        assert trailers == {"x-amz-meta-long": "v" * 2000}
