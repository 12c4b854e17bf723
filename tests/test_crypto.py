"""Envelope encryption, blind indexes and the keyring file, without a database."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cdp.config import ConfigError
from cdp.crypto import (
    CryptoError,
    Keyring,
    KeyringError,
    field_aad,
    open_sealed,
    seal,
)
from cdp.keys.source import load_keyring
from tests.conftest import make_settings

GOLDEN = json.loads((Path(__file__).parent / "golden" / "envelope_v1.json").read_text())
KEY = bytes(range(32))


def sealed(value: str = "+8613812345678", row: int = 1, column: str = "phone_ct") -> bytes:
    return seal(KEY, value.encode(), data_key_id=3, aad=field_aad("profiles", column, row))


def test_the_stored_format_matches_the_committed_golden_vector() -> None:
    aad = field_aad(GOLDEN["table"], GOLDEN["column"], GOLDEN["row_id"])
    blob = seal(
        bytes.fromhex(GOLDEN["data_key_hex"]),
        GOLDEN["plaintext"].encode(),
        data_key_id=GOLDEN["data_key_id"],
        aad=aad,
        nonce=bytes.fromhex(GOLDEN["nonce_hex"]),
    )
    assert blob.hex() == GOLDEN["sealed_hex"]
    assert blob[0] == 1, "format version byte"
    assert int.from_bytes(blob[1:9], "big") == GOLDEN["data_key_id"], "data key id"


def test_a_golden_value_written_long_ago_still_decrypts() -> None:
    keyring = Keyring(
        keks={GOLDEN["kek_version"]: bytes.fromhex(GOLDEN["kek_hex"])},
        blind_index_key=bytes.fromhex(GOLDEN["blind_index_key_hex"]),
        audit_key=bytes(32),
    )
    data_key = keyring.unwrap(
        bytes.fromhex(GOLDEN["wrapped_data_key_hex"]),
        kek_version=GOLDEN["kek_version"],
        data_key_id=GOLDEN["data_key_id"],
    )
    aad = field_aad(GOLDEN["table"], GOLDEN["column"], GOLDEN["row_id"])
    plaintext = open_sealed(data_key, bytes.fromhex(GOLDEN["sealed_hex"]), aad=aad)
    assert plaintext.decode() == GOLDEN["plaintext"]
    bidx = keyring.blind_index(GOLDEN["blind_index_kind"], GOLDEN["plaintext"])
    assert bidx.hex() == GOLDEN["blind_index_hex"]


def test_every_value_gets_a_fresh_nonce() -> None:
    assert sealed() != sealed()


def test_a_ciphertext_copied_to_another_row_fails_to_decrypt() -> None:
    with pytest.raises(CryptoError, match="not from this row and field"):
        open_sealed(KEY, sealed(row=1), aad=field_aad("profiles", "phone_ct", 2))


def test_a_ciphertext_copied_to_another_column_fails_to_decrypt() -> None:
    with pytest.raises(CryptoError):
        open_sealed(KEY, sealed(column="phone_ct"), aad=field_aad("profiles", "name_ct", 1))


def test_a_ciphertext_copied_to_another_table_fails_to_decrypt() -> None:
    with pytest.raises(CryptoError):
        open_sealed(KEY, sealed(), aad=field_aad("orders", "phone_ct", 1))


@pytest.mark.parametrize("position", [0, 1, 8, 9, 20, -1])
def test_a_flipped_bit_fails_with_a_clear_error_never_garbage(position: int) -> None:
    blob = bytearray(sealed())
    blob[position] ^= 0x01
    with pytest.raises(CryptoError):
        open_sealed(KEY, bytes(blob), aad=field_aad("profiles", "phone_ct", 1))


def test_a_truncated_value_fails_with_a_clear_error() -> None:
    with pytest.raises(CryptoError, match="known format"):
        open_sealed(KEY, sealed()[:20], aad=field_aad("profiles", "phone_ct", 1))


def test_a_wrapped_data_key_is_bound_to_its_id() -> None:
    keyring = Keyring.generate(development=False)
    version, wrapped = keyring.wrap(KEY, data_key_id=1)
    assert keyring.unwrap(wrapped, kek_version=version, data_key_id=1) == KEY
    with pytest.raises(CryptoError):
        keyring.unwrap(wrapped, kek_version=version, data_key_id=2)


def test_blind_indexes_are_full_length_keyed_and_separated_by_kind() -> None:
    one, two = Keyring.generate(development=False), Keyring.generate(development=False)
    assert len(one.blind_index("phone", "+8613812345678")) == 32
    assert one.blind_index("phone", "x") == one.blind_index("phone", "x")
    assert one.blind_index("phone", "x") != two.blind_index("phone", "x")
    assert one.blind_index("phone", "x") != one.blind_index("union", "x")


def test_a_saved_keyring_is_private_to_its_owner_and_round_trips(tmp_path: Path) -> None:
    keyring = Keyring.generate(development=True).with_new_version()
    path = tmp_path / "nested" / "keyring.json"
    keyring.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = Keyring.load(path)
    assert loaded == keyring
    assert loaded.active_version == 2 and loaded.development


def test_a_keyring_repr_shows_no_key_material() -> None:
    keyring = Keyring.generate(development=False)
    assert keyring.keks[1].hex() not in repr(keyring)
    assert "versions=[1]" in repr(keyring)


@pytest.mark.parametrize(
    "content",
    ["", "{}", "not json", '{"format": 1, "keks": {"1": "short"}}', '{"format": 9, "keks": {}}'],
)
def test_a_damaged_keyring_is_refused_with_one_line(tmp_path: Path, content: str) -> None:
    path = tmp_path / "keyring.json"
    path.write_text(content)
    with pytest.raises(KeyringError) as caught:
        Keyring.load(path)
    assert "\n" not in str(caught.value)


def test_development_creates_a_keyring_when_none_exists(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keyring.json"
    source = load_keyring(make_settings("sqlite+aiosqlite://", keyring=path))
    assert path.exists() and source.keyring.development
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_production_refuses_to_start_without_a_keyring(tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite+aiosqlite://", keyring=tmp_path / "missing.json", env="production"
    )
    with pytest.raises(ConfigError, match="CDP_KEYRING: no keyring"):
        load_keyring(settings)
    assert not (tmp_path / "missing.json").exists()


def test_production_refuses_a_development_keyring(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate(development=True).save(path)
    settings = make_settings("sqlite+aiosqlite://", keyring=path, env="production")
    with pytest.raises(ConfigError, match="development keyring"):
        load_keyring(settings)


def test_a_keyring_rotated_by_another_process_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    Keyring.generate(development=False).save(path)
    source = load_keyring(make_settings("sqlite+aiosqlite://", keyring=path))
    rotated = source.keyring.with_new_version()
    rotated.save(path)
    os.utime(path, (1, 1))  # a distinct mtime, whatever the clock's resolution
    assert source.refresh().active_version == 2
