"""Made-up people who found the brand through its mini-program, official account, video
account and website: Chinese names, mainland mobile numbers, addresses, OpenIDs."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

from cdp.auth import Principal, Role
from cdp.channels import Channel
from cdp.demo.known import (
    APP_IDS,
    KNOWN_PEOPLE,
    OPENID_PREFIXES,
    RESERVED_PHONES,
    UNIONID_PREFIX,
)
from cdp.profiles.values import PostalAddress

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "慕容")
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉萍红鹏辉建国志宇浩然子涵梓萱欣怡雨轩思远"
    "嘉怡晨阳佳琪俊杰一诺博文诗涵雅婷晓东海燕春梅秋菊冬雪安琪文博天佑若曦"
)
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "198",
    "199",
]
PLACES = (
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
    ("广东省", "广州市", ("天河区", "越秀区", "海珠区", "番禺区")),
    ("上海市", "上海市", ("浦东新区", "徐汇区", "静安区", "闵行区")),
    ("北京市", "北京市", ("朝阳区", "海淀区", "东城区", "丰台区")),
    ("浙江省", "杭州市", ("西湖区", "滨江区", "余杭区", "拱墅区")),
    ("江苏省", "南京市", ("鼓楼区", "玄武区", "建邺区")),
    ("江苏省", "苏州市", ("姑苏区", "工业园区", "吴中区")),
    ("四川省", "成都市", ("武侯区", "锦江区", "高新区", "青羊区")),
    ("湖北省", "武汉市", ("洪山区", "武昌区", "江汉区")),
    ("福建省", "厦门市", ("思明区", "湖里区")),
    ("陕西省", "西安市", ("雁塔区", "碑林区", "未央区")),
    ("重庆市", "重庆市", ("渝中区", "江北区", "南岸区")),
)
STREETS = (
    "科技园路",
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "文化路",
    "滨海大道",
    "学府路",
    "长江路",
)
# Share of profiles seen in each app (a person is always seen in at least two).
APP_REACH = (
    (Channel.MINI_PROGRAM, 0.9),
    (Channel.OFFICIAL_ACCOUNT, 0.75),
    (Channel.CHANNELS, 0.35),
    (Channel.WEB, 0.2),
)
OPENID_ALPHABET = string.ascii_letters + string.digits + "_-"
SEEDER = Principal(subject="demo-data", role=Role.SERVICE)


@dataclass(frozen=True)
class DemoBrand:
    """The brand's apps: one app id per channel, and the OpenID prefix each app uses."""

    app_ids: dict[Channel, str]
    openid_prefixes: dict[Channel, str]
    unionid_prefix: str


# The README's brand: its examples' app ids and identifiers are the demo's.
BRAND = DemoBrand(app_ids=APP_IDS, openid_prefixes=OPENID_PREFIXES, unionid_prefix=UNIONID_PREFIX)


class DemoPeople:
    """A deterministic source of made-up people."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.brand = BRAND
        self.used_phones = {p.phone for p in KNOWN_PEOPLE} | RESERVED_PHONES

    def name(self) -> str:
        rng = self.rng
        surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.03 else rng.choice(SURNAMES)
        return surname + "".join(rng.choices(GIVEN, k=rng.choice((1, 2, 2))))

    def phone(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.used_phones:
                self.used_phones.add(number)
                return number

    def address(self) -> PostalAddress:
        province, city, districts = self.rng.choice(PLACES)
        street = (
            f"{self.rng.choice(STREETS)}{self.rng.randint(1, 999)}号"
            f"{self.rng.randint(1, 30)}栋{self.rng.randint(101, 2805)}室"
        )
        return PostalAddress(province, city, self.rng.choice(districts), street)

    def birthday(self) -> date:
        return date(1960, 1, 1) + timedelta(days=self.rng.randrange(46 * 365))

    def open_id(self, channel: Channel) -> str:
        return self.brand.openid_prefixes[channel] + "".join(
            self.rng.choices(OPENID_ALPHABET, k=22)
        )

    def union_id(self) -> str:
        return self.brand.unionid_prefix + "".join(self.rng.choices(OPENID_ALPHABET, k=23))

    def channels(self) -> list[Channel]:
        while True:
            seen = [c for c, reach in APP_REACH if self.rng.random() < reach]
            if len(seen) >= 2:
                return seen
