from __future__ import annotations

import pytest

from strongroom.crypto.hchacha20 import hchacha20


def test_draft_irtf_cfrg_xchacha_vector() -> None:
    # draft-irtf-cfrg-xchacha-03, section 2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert hchacha20(key, nonce).hex() == (
        "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )


def test_sizes() -> None:
    with pytest.raises(ValueError):
        hchacha20(bytes(31), bytes(16))
    with pytest.raises(ValueError):
        hchacha20(bytes(32), bytes(12))
