"""The push settings of an app: a Token of WeChat's shape, an EncodingAESKey that decodes to
an AES-256 key and comes with a Token; one clear line otherwise, never the value."""

from __future__ import annotations

import pytest

from cdp.config import ConfigError, load_settings
from tests.wechat_push.pushing import AES_KEY, OA, SECRET


def app(**push: str) -> dict[str, object]:
    return {OA: {"type": "OFFICIAL_ACCOUNT", "secret": SECRET, **push}}


def test_a_token_and_key_of_wechats_shape_are_taken() -> None:
    settings = load_settings({}, wechat_apps=app(token="brandPush2026", encoding_aes_key=AES_KEY))
    configured = settings.wechat_apps[OA]
    assert configured.token is not None and configured.encoding_aes_key is not None
    assert "brandPush2026" not in repr(settings) and AES_KEY not in repr(settings)


@pytest.mark.parametrize(
    ("push", "words"),
    [
        ({"token": "ab"}, "token must be 3-32 letters or digits"),
        ({"token": "has space"}, "token must be 3-32 letters or digits"),
        ({"token": "brandPush", "encoding_aes_key": "short"}, "43 letters or digits"),
        ({"token": "brandPush", "encoding_aes_key": "!" * 43}, "43 letters or digits"),
        ({"encoding_aes_key": AES_KEY}, "encoding_aes_key needs a token"),
    ],
)
def test_a_malformed_push_setting_stops_start_up_with_one_line(
    push: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({}, wechat_apps=app(**push))
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)
    for value in push.values():
        if len(value) > 5:
            assert value not in str(refused.value)
