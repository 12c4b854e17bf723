"""Where a person shows up: the brand's WeChat apps, its website, and SMS for contact."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    MINI_PROGRAM = "MINI_PROGRAM"
    OFFICIAL_ACCOUNT = "OFFICIAL_ACCOUNT"
    CHANNELS = "CHANNELS"  # the video account (视频号)
    WEB = "WEB"
    SMS = "SMS"


# Apps that give a person an OpenID; SMS is a contact channel, not an app.
APP_CHANNELS = frozenset(
    {Channel.MINI_PROGRAM, Channel.OFFICIAL_ACCOUNT, Channel.CHANNELS, Channel.WEB}
)
