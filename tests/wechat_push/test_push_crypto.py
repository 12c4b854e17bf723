"""Safe mode against published sample vectors: WeChat's own 消息加解密 sample (its Java
WXBizMsgCryptTest: EncodingAESKey abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG, token pamtest,
appid wxb11529c136998cb6) and the message-encryption tests of wechatpy (token 123456, a
signed message, an encrypted echostr and a reply encrypted with a fixed random prefix)."""

from __future__ import annotations

import pytest

from cdp.wechat.push_crypto import PushCipher, PushCryptoError, sign
from cdp.wechat.push_message import message_of, parse_xml

SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APP = "wxb11529c136998cb6"
SAMPLE_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)
KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
TOKEN = "123456"
APP = "wx49f0ab532d5d035a"
MESSAGE = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IH"
    "CrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXp"
    "XaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQ"
    "iMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQ"
    "ipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
ECHO = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
REPLY = """<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>"""
REPLY_ENCRYPTED = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcB"
    "qGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0n"
    "FhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwb"
    "gX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3"
    "ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)


def test_the_official_sample_encrypts_to_its_published_ciphertext() -> None:
    cipher = PushCipher(SAMPLE_KEY, SAMPLE_APP)
    encrypted = cipher.encrypt("我是中文abcd123".encode(), random=b"aaaabbbbccccdddd")
    assert encrypted == SAMPLE_ENCRYPTED
    assert cipher.decrypt(SAMPLE_ENCRYPTED).decode() == "我是中文abcd123"


def test_a_published_message_verifies_and_decrypts_to_its_fields() -> None:
    assert sign(TOKEN, "1411525903", "461056294", MESSAGE) == (
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    )
    message = message_of(parse_xml(PushCipher(KEY, APP).decrypt(MESSAGE)))
    assert (message.from_user, message.msg_type, message.text("Content")) == (
        "messense",
        "text",
        "test",
    )
    assert message.create_time == 1411525903


def test_a_published_encrypted_echostr_verifies_and_decrypts() -> None:
    assert sign(TOKEN, "1411443780", "437374425", ECHO) == (
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    )
    assert sign(TOKEN, "1411443780", "437374424", ECHO) != (
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    )
    assert PushCipher(KEY, APP).decrypt(ECHO) == b"5927782489442352469"


def test_a_published_reply_encrypts_and_signs_as_published() -> None:
    encrypted = PushCipher(KEY, APP).encrypt(REPLY.encode(), random=b"1234567890123456")
    assert encrypted == REPLY_ENCRYPTED
    assert sign(TOKEN, "1411525903", "461056294", encrypted) == (
        "407518b7649e86ef23978113f92d27afa9296533"
    )


def test_a_message_encrypted_for_another_app_is_refused() -> None:
    with pytest.raises(PushCryptoError) as refused:
        PushCipher(KEY, "wx0000000000000000").decrypt(MESSAGE)
    assert refused.value.reason == "APP_ID"


@pytest.mark.parametrize(
    "encrypted",
    ["", "not base64!", "AAAA", SAMPLE_ENCRYPTED[:-4] + "AAA=", "A" * 64],
)
def test_broken_ciphertext_is_refused_without_an_exception_of_another_kind(
    encrypted: str,
) -> None:
    with pytest.raises(PushCryptoError):
        PushCipher(SAMPLE_KEY, SAMPLE_APP).decrypt(encrypted)
