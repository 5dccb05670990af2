"""DARE 2.0 throughput against raw AES-GCM from `cryptography`, same process, same data.

    python bench/crypto_bench.py [--size-mib 64] [--repeat 5] [--chacha]

Baselines: AESGCM.encrypt/decrypt of the whole buffer in one call (what "raw AESGCM" usually
means; it pays for page-faulting one fresh 64 MiB output) and AESGCM over 64 KiB pieces (the
ceiling for any 64 KiB-package format). DARE runs the way the object server uses it: 1 MiB
chunks through DareEncryptor.update() (and update_parts(), which skips the join), decrypt_range() over the whole object reading 1 MiB at a
time, and DareDecryptor in 1 MiB chunks. Prints MB/s (best of --repeat) and ratios; no verdicts.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from strongroom.crypto import dare

CHUNK = 1 << 20
PIECE = dare.MAX_PAYLOAD_SIZE


def best_of(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best time of each function; rounds interleave the functions so that load from other
    processes hits them alike."""
    times = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chacha", action="store_true", help="also ChaCha20-Poly1305")
    args = ap.parse_args()
    size: int = args.size_mib << 20
    repeat: int = args.repeat
    data = os.urandom(size)
    key = os.urandom(32)
    nonce = os.urandom(12)
    mv = memoryview(data)

    suites: list[tuple[dare.CipherSuite, type[AESGCM] | type[ChaCha20Poly1305]]] = [
        (dare.CipherSuite.AES_256_GCM, AESGCM)
    ]
    if args.chacha:
        suites.append((dare.CipherSuite.CHACHA20_POLY1305, ChaCha20Poly1305))

    print(f"{args.size_mib} MiB, best of {args.repeat}; ratios against raw AESGCM/ChaCha20Poly1305")
    print(f"{'':44}  {'MB/s':>6}  {'/one call':>9}  {'/64K pieces':>11}")
    for suite, aead_cls in suites:
        tag = "AES-GCM" if suite == dare.CipherSuite.AES_256_GCM else "ChaCha20"
        aead = aead_cls(key)
        raw_ct = aead.encrypt(nonce, data, b"")
        raw_pieces = [aead.encrypt(nonce, mv[i : i + PIECE], b"") for i in range(0, size, PIECE)]
        stored = dare.encrypt(key, data, cipher=suite)
        smv = memoryview(stored)

        def raw_enc(aead: AESGCM | ChaCha20Poly1305 = aead) -> None:
            aead.encrypt(nonce, data, b"")

        def raw_dec(aead: AESGCM | ChaCha20Poly1305 = aead, ct: bytes = raw_ct) -> None:
            aead.decrypt(nonce, ct, b"")

        def raw_enc_pieces(aead: AESGCM | ChaCha20Poly1305 = aead) -> None:
            for i in range(0, size, PIECE):
                aead.encrypt(nonce, mv[i : i + PIECE], b"")

        def raw_dec_pieces(
            aead: AESGCM | ChaCha20Poly1305 = aead, pieces: list[bytes] = raw_pieces
        ) -> None:
            for piece in pieces:
                aead.decrypt(nonce, piece, b"")

        def dare_enc_stream(suite: dare.CipherSuite = suite) -> None:
            enc = dare.DareEncryptor(key, cipher=suite)
            for i in range(0, size, CHUNK):
                enc.update(mv[i : i + CHUNK])
            enc.finalize()

        def dare_enc_parts(suite: dare.CipherSuite = suite) -> None:
            enc = dare.DareEncryptor(key, cipher=suite)
            for i in range(0, size, CHUNK):
                enc.update_parts(mv[i : i + CHUNK])
            enc.finalize()

        def dare_enc_oneshot(suite: dare.CipherSuite = suite) -> None:
            dare.encrypt(key, data, cipher=suite)

        def read(off: int, n: int, smv: memoryview = smv) -> memoryview:
            return smv[off : off + n]

        def dare_dec_range() -> None:
            for _ in dare.decrypt_range(key, read, size, 0, size):
                pass

        def dare_dec_stream(smv: memoryview = smv) -> None:
            dec = dare.DareDecryptor(key)
            for i in range(0, len(smv), CHUNK):
                dec.update(smv[i : i + CHUNK])
            dec.finalize()

        fns: dict[str, Callable[[], object]] = {
            "raw_enc": raw_enc,
            "raw_enc_pieces": raw_enc_pieces,
            "dare_enc_stream": dare_enc_stream,
            "dare_enc_parts": dare_enc_parts,
            "dare_enc_oneshot": dare_enc_oneshot,
            "raw_dec": raw_dec,
            "raw_dec_pieces": raw_dec_pieces,
            "dare_dec_range": dare_dec_range,
            "dare_dec_stream": dare_dec_stream,
        }
        mbs = {name: size / t / 1e6 for name, t in best_of(fns, repeat).items()}
        base = {
            "enc": (mbs["raw_enc"], mbs["raw_enc_pieces"]),
            "dec": (mbs["raw_dec"], mbs["raw_dec_pieces"]),
        }
        rows = [
            (f"raw {tag} encrypt, one call", "enc", mbs["raw_enc"]),
            (f"raw {tag} encrypt, 64 KiB pieces", "enc", mbs["raw_enc_pieces"]),
            (f"DARE {tag} encrypt, 1 MiB updates", "enc", mbs["dare_enc_stream"]),
            (f"DARE {tag} encrypt, 1 MiB update_parts", "enc", mbs["dare_enc_parts"]),
            (f"DARE {tag} encrypt, one {args.size_mib} MiB update", "enc", mbs["dare_enc_oneshot"]),
            (f"raw {tag} decrypt, one call", "dec", mbs["raw_dec"]),
            (f"raw {tag} decrypt, 64 KiB pieces", "dec", mbs["raw_dec_pieces"]),
            (f"DARE {tag} decrypt_range, whole object", "dec", mbs["dare_dec_range"]),
            (f"DARE {tag} DareDecryptor, 1 MiB updates", "dec", mbs["dare_dec_stream"]),
        ]
        for name, kind, value in rows:
            one, pieces = base[kind]
            print(f"{name:44}  {value:6.0f}  {value / one:9.2f}  {value / pieces:11.2f}")


if __name__ == "__main__":
    main()
