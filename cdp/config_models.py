"""The structured settings, each given as JSON in its `CDP_` variable: the contact frequency
caps by consent purpose (`CDP_CONTACT_CAPS`) and the brand's WeChat apps by AppID
(`CDP_WECHAT_APPS`), with the checks of their keys."""

from __future__ import annotations

import base64
import binascii
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator

CONSENT_PURPOSES = ("MARKETING", "ACTIVITY_NOTIFICATIONS", "PERSONALIZATION", "ANALYTICS")


class ContactCap(BaseModel):
    """At most `limit` contacts for a purpose per channel within `hours`."""

    model_config = {"frozen": True}

    limit: int = Field(ge=1, le=1000)
    hours: float = Field(gt=0, le=24 * 366)


class WechatAppType(StrEnum):
    MINI_PROGRAM = "MINI_PROGRAM"
    OFFICIAL_ACCOUNT = "OFFICIAL_ACCOUNT"
    WEBSITE = "WEBSITE"  # an Open Platform website app: QR sign-in (qrconnect, snsapi_login)


class OAuthScope(StrEnum):
    BASE = "snsapi_base"  # silent: the OpenID, and the UnionID when WeChat gives it
    USERINFO = "snsapi_userinfo"  # asks the person once; also yields the UnionID


def _push_token(value: SecretStr | None) -> SecretStr | None:
    # WeChat's own rule for the message push Token (服务器配置 / 消息推送).
    if value is not None and not re.fullmatch(r"[A-Za-z0-9]{3,32}", value.get_secret_value()):
        raise ValueError("token must be 3-32 letters or digits")
    return value


def _aes_key(value: SecretStr | None) -> SecretStr | None:
    # 43 characters of base64 that decode (with one "=") to an AES-256 key.
    if value is not None:
        text = value.get_secret_value()
        if not re.fullmatch(r"[A-Za-z0-9+/]{43}", text):
            raise ValueError("encoding_aes_key must be 43 letters or digits")
        try:
            if len(base64.b64decode(text + "=", validate=True)) != 32:
                raise ValueError("encoding_aes_key does not decode to 32 bytes")
        except binascii.Error:
            raise ValueError("encoding_aes_key is not base64") from None
    return value


class WechatApp(BaseModel):
    """One of the brand's WeChat apps: its type, AppSecret and (official accounts) OAuth scope;
    for message push, its Token and, in safe mode, its EncodingAESKey; for a website app, the
    page of the brand's site that a signed-in browser lands on (the session in its fragment)."""

    model_config = {"frozen": True, "extra": "forbid"}

    type: WechatAppType
    secret: SecretStr = Field(min_length=1)
    oauth_scope: OAuthScope = OAuthScope.BASE
    token: Annotated[SecretStr | None, AfterValidator(_push_token)] = None
    encoding_aes_key: Annotated[SecretStr | None, AfterValidator(_aes_key)] = None
    return_url: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _key_needs_token(self) -> WechatApp:
        if self.encoding_aes_key is not None and self.token is None:
            raise ValueError("encoding_aes_key needs a token")
        return self

    @model_validator(mode="after")
    def _fits_its_type(self) -> WechatApp:
        website = self.type is WechatAppType.WEBSITE
        if website and self.token is not None:
            raise ValueError("a WEBSITE app has no message push (token)")
        if not website and self.return_url is not None:
            raise ValueError("return_url is for WEBSITE apps")
        # A path on cdp's own host, or an absolute http(s) URL the operator chose; never
        # taken from a request, so the callback cannot be made an open redirect.
        if self.return_url is not None and not self.return_url.startswith(
            ("/", "https://", "http://")
        ):
            raise ValueError("return_url must be a path or an http(s):// URL")
        if self.return_url is not None and "#" in self.return_url:
            raise ValueError("return_url must not carry a fragment (the session goes there)")
        return self


def _caps_name_purposes(value: dict[str, ContactCap]) -> dict[str, ContactCap]:
    unknown = sorted(set(value) - set(CONSENT_PURPOSES))
    if unknown:
        raise ValueError(f"unknown consent purposes {unknown}; use {list(CONSENT_PURPOSES)}")
    return value


def _wechat_app_ids(value: dict[str, WechatApp]) -> dict[str, WechatApp]:
    for app_id in value:
        if not (len(app_id) == 18 and app_id.startswith("wx") and app_id.isalnum()):
            raise ValueError(f"{app_id!r} is not a WeChat AppID (wx and 16 characters)")
    return value


# A purpose not named has no cap.
ContactCaps = Annotated[dict[str, ContactCap], AfterValidator(_caps_name_purposes)]
WechatApps = Annotated[dict[str, WechatApp], AfterValidator(_wechat_app_ids)]


class StaffWecom(BaseModel):
    """`CDP_STAFF_WECOM`: the brand's WeCom self-built app (自建应用) that staff sign in with:
    the corp id (企业ID, `ww` and 16 characters), the app's AgentId and its Secret."""

    model_config = {"frozen": True, "extra": "forbid"}

    corp_id: str = Field(pattern=r"^ww[0-9A-Za-z]{16}$")
    agent_id: str = Field(pattern=r"^[0-9]{1,12}$", coerce_numbers_to_str=True)
    secret: SecretStr = Field(min_length=1)


class TencentSms(BaseModel):
    """Tencent Cloud SMS (SendSms, API 2021-01-11) for SMS-code sign-in: the API key pair, the
    SMS application, the approved signature and the code template (its parameters: the code,
    then its lifetime in minutes)."""

    model_config = {"frozen": True, "extra": "forbid"}

    secret_id: str = Field(min_length=1, max_length=128)
    secret_key: SecretStr = Field(min_length=1)
    sdk_app_id: str = Field(pattern=r"^\d{6,20}$")
    sign_name: str = Field(min_length=1, max_length=64)
    template_id: str = Field(pattern=r"^\d{1,20}$")
    region: str = Field(default="ap-guangzhou", pattern=r"^[a-z]+-[a-z]+$")
    endpoint: str = Field(default="https://sms.tencentcloudapi.com", pattern=r"^https?://")
