"""Signed tree heads: a head verifies with the public key alone, a changed size, root or time
does not, and a rotated key signs new heads while the old ones still verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cdp.audit.signing import (
    TreeHead,
    head_is_signed,
    load_public_keys,
    public_keys_document,
    rotate,
    sign_head,
)
from cdp.crypto import Keyring

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_head_verifies_with_the_public_key_and_no_keyring() -> None:
    keyring = Keyring.generate(development=True)
    head = sign_head(keyring, size=3, root=bytes(32), at=AT)
    published = json.dumps(public_keys_document(keyring))
    assert "PRIVATE" not in published
    document = json.loads(json.dumps(head.to_document()))
    assert head_is_signed(TreeHead.from_document(document), load_public_keys(published))


def test_a_head_with_another_size_root_or_time_does_not_verify() -> None:
    keyring = Keyring.generate(development=True)
    keys = load_public_keys(json.dumps(public_keys_document(keyring)))
    head = sign_head(keyring, size=3, root=bytes(32), at=AT)
    for forged in (
        TreeHead(2, head.root, head.at, head.key_version, head.signature),
        TreeHead(3, b"\x01" * 32, head.at, head.key_version, head.signature),
        TreeHead(3, head.root, datetime(2027, 1, 1, tzinfo=UTC), 1, head.signature),
    ):
        assert not head_is_signed(forged, keys)


def test_another_keyring_s_public_key_does_not_verify_a_head() -> None:
    head = sign_head(Keyring.generate(development=True), size=1, root=bytes(32), at=AT)
    other = public_keys_document(Keyring.generate(development=True))
    assert not head_is_signed(head, load_public_keys(json.dumps(other)))


def test_a_rotated_key_signs_new_heads_and_old_heads_still_verify() -> None:
    keyring = Keyring.generate(development=True)
    old = sign_head(keyring, size=1, root=bytes(32), at=AT)
    rotated = Keyring.from_json(rotate(keyring).to_json())
    new = sign_head(rotated, size=2, root=bytes(32), at=AT)
    assert (old.key_version, new.key_version) == (1, 2)
    keys = load_public_keys(json.dumps(public_keys_document(rotated)))
    assert head_is_signed(old, keys) and head_is_signed(new, keys)
    only_old = load_public_keys(json.dumps(public_keys_document(keyring)))
    assert not head_is_signed(new, only_old)


def test_a_lone_pem_verifies_and_garbage_is_refused() -> None:
    keyring = Keyring.generate(development=True)
    pem = public_keys_document(keyring)["keys"]["1"]
    head = sign_head(keyring, size=1, root=bytes(32), at=AT)
    assert head_is_signed(head, load_public_keys(pem))
    for bad in ("", "{}", "not a key"):
        try:
            load_public_keys(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was taken for a public key")
