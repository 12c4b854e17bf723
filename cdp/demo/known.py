"""The demo's documented people: fixed names, phones, UnionIDs, OpenIDs and profile ids that
the README's examples use and `cdp demo-tokens` prints. `cdp demo-data` creates them first
(so the first of them is the oldest profile), whatever the seed; their activity follows the
seed like everyone else's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.consent.service import Choice
from cdp.profiles.values import PostalAddress

# The demo brand's apps: the README's app ids, and the OpenID prefix each app gives.
APP_IDS = {
    Channel.MINI_PROGRAM: "wx8f3c2a1b5d6e7f90",
    Channel.OFFICIAL_ACCOUNT: "wx1a2b3c4d5e6f7a8b",
    Channel.CHANNELS: "wx5d7e9f1a3b5c7d9e",
    Channel.WEB: "wx9e8d7c6b5a4f3e2d",
}
OPENID_PREFIXES = {
    Channel.MINI_PROGRAM: "oAbCd1",
    Channel.OFFICIAL_ACCOUNT: "oOfFiC",
    Channel.CHANNELS: "oChNnL",
    Channel.WEB: "oWeBsT",
}
UNIONID_PREFIX = "oUnIoN"
# Numbers the README's examples give a documented person: never handed to anyone else.
RESERVED_PHONES = frozenset({"13912340000"})


@dataclass(frozen=True)
class KnownPerson:
    public_id: str
    name: str
    phone: str  # as the person knows it
    union_id: str
    open_ids: dict[Channel, str]  # in the order the person was first seen in each app
    address: PostalAddress
    birthday: date
    first_seen_days_ago: int
    orders: int
    office_buyer: bool  # orders for a team: the spend of a SUPREME member
    coupons: tuple[int, ...]  # indexes into activity.COUPONS, issued and left unredeemed
    consents: tuple[Choice, ...]
    role_in_readme: str


KNOWN_PEOPLE = (
    KnownPerson(
        public_id="c0ffee00-0000-4000-8000-000000000001",
        name="王芳",
        phone="13600001111",
        union_id="oUnIoN00000000000wangfang0001",
        open_ids={
            Channel.MINI_PROGRAM: "oAbCd10000000000wangfang0001",
            Channel.OFFICIAL_ACCOUNT: "oOfFiC0000000000wangfang0001",
        },
        address=PostalAddress("浙江省", "杭州市", "西湖区", "文三路 90 号 3 栋 1201 室"),
        birthday=date(1990, 5, 12),
        first_seen_days_ago=300,
        orders=6,
        office_buyer=False,
        coupons=(2, 3),
        consents=(
            Choice(ConsentPurpose.MARKETING, None, True),
            Choice(ConsentPurpose.PERSONALIZATION, None, True),
        ),
        role_in_readme="the customer of the demo token",
    ),
    KnownPerson(
        public_id="c0ffee00-0000-4000-8000-000000000002",
        name="张小梅",
        phone="13812345678",
        union_id="oUnIoN1234567890abcdefghijklm",
        open_ids={
            Channel.MINI_PROGRAM: "oAbCd1234567890abcdefghijklm",
            Channel.OFFICIAL_ACCOUNT: "oOfFiC1234567890abcdefghijkl",
            Channel.CHANNELS: "oChNnL1234567890abcdefghijkl",
        },
        address=PostalAddress("广东省", "深圳市", "南山区", "科技园路 88 号 2 栋 806 室"),
        birthday=date(1992, 8, 16),
        first_seen_days_ago=200,
        orders=3,
        office_buyer=False,
        coupons=(0,),
        consents=(Choice(ConsentPurpose.MARKETING, None, True),),
        role_in_readme="looked up by support and compliance; the service examples' profile",
    ),
    KnownPerson(
        public_id="c0ffee00-0000-4000-8000-000000000003",
        name="陈思远",
        phone="18600008888",
        union_id="oUnIoN00000000000chensiyuan01",
        open_ids={
            Channel.WEB: "oWeBsT000000000chensiyuan001",
            Channel.MINI_PROGRAM: "oAbCd1000000000chensiyuan001",
            Channel.OFFICIAL_ACCOUNT: "oOfFiC000000000chensiyuan001",
            Channel.CHANNELS: "oChNnL000000000chensiyuan001",
        },
        address=PostalAddress("上海市", "上海市", "浦东新区", "世纪大道 100 号 18 楼"),
        birthday=date(1985, 11, 3),
        first_seen_days_ago=340,
        orders=24,
        office_buyer=True,
        coupons=(1,),
        consents=(Choice(ConsentPurpose.ANALYTICS, None, True),),
        role_in_readme="a SUPREME member who orders for an office",
    ),
)
