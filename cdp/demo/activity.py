"""What demo people do: orders from every channel with the links that brought them, points,
coupons, tags, consent choices and behaviour events, in the shape a coffee brand sees."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from cdp.channels import Channel
from cdp.consent.models import ConsentPurpose
from cdp.consent.service import Choice
from cdp.loyalty.models import CouponKind
from cdp.orders.models import OrderStatus
from cdp.orders.service import LineItem, OrderInput
from cdp.profiles.values import PostalAddress

PRODUCTS = (
    ("LATTE-M", "拿铁 中杯", 2800),
    ("LATTE-L", "拿铁 大杯", 3200),
    ("OAT-LATTE", "燕麦拿铁", 3400),
    ("AMERICANO", "美式咖啡", 2400),
    ("FLATWHITE", "澳白", 3300),
    ("CROISSANT", "黄油可颂", 1600),
    ("CHEESECAKE", "巴斯克芝士蛋糕", 3800),
    ("DRIP-BOX", "挂耳咖啡礼盒 10 袋", 8900),
    ("BEANS-250", "意式拼配咖啡豆 250g", 9800),
    ("TUMBLER", "品牌随行杯", 12800),
)
# Where orders come from, and the entry parameters of the link that brought the buyer.
ENTRIES = (
    (Channel.MINI_PROGRAM, "from=menu&type=home", 30),
    (Channel.MINI_PROGRAM, "from=article&id={article}", 20),
    (Channel.MINI_PROGRAM, "from=moments&campaign=autumn", 8),
    (Channel.MINI_PROGRAM, None, 15),
    (Channel.OFFICIAL_ACCOUNT, "from=menu&type=member", 8),
    (Channel.CHANNELS, "from=video&id={video}", 10),
    (Channel.CHANNELS, "from=live&room={room}", 4),
    (Channel.WEB, "from=search&kw=coffee", 5),
)
COUPONS = (
    ("新人礼券 立减 20 元", CouponKind.AMOUNT, 2000, None, 0),
    ("满 200 减 30", CouponKind.AMOUNT, 3000, None, 20000),
    ("会员日 8.8 折", CouponKind.PERCENT, 5000, 12, 0),
    ("生日月免费饮品", CouponKind.AMOUNT, 3400, None, 0),
)
EVENT_TYPES = (
    ("article_read", Channel.OFFICIAL_ACCOUNT, "from=article&id={article}"),
    ("menu_click", Channel.OFFICIAL_ACCOUNT, "from=menu&type=home"),
    ("video_view", Channel.CHANNELS, "from=video&id={video}"),
    ("page_view", Channel.MINI_PROGRAM, "from=menu&type=home"),
    ("product_view", Channel.MINI_PROGRAM, None),
    ("page_view", Channel.WEB, "from=search&kw=coffee"),
)


@dataclass(frozen=True)
class DemoOrder:
    channel: Channel
    external_id: str
    status: OrderStatus
    items: list[LineItem]
    paid_at: datetime
    entry: str | None

    def to_record(self, shipping_address: PostalAddress | None) -> OrderInput:
        """The order as cdp records it (every field carries over), shipped to the address."""
        given = {f.name: getattr(self, f.name) for f in fields(self)}
        return OrderInput(**given, shipping_address=shipping_address)


class DemoActivity:
    """A deterministic source of what one person did since they were first seen."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.order_no = 0

    def _fill(self, entry: str | None) -> str | None:
        if entry is None:
            return None
        return entry.format(
            article=self.rng.randint(100, 180),
            video=self.rng.randint(1, 40),
            room=self.rng.randint(1, 9),
        )

    def first_seen(self, now: datetime) -> datetime:
        """Within the past year: every analytics range over it sees the whole demo."""
        return now - timedelta(days=self.rng.randrange(360), minutes=self.rng.randrange(1440))

    def segment(self) -> tuple[int, bool]:
        """How many orders a person places and whether for an office (team-sized baskets):
        most buy now and then; regulars reach VIP, office buyers SUPREME."""
        rng, roll = self.rng, self.rng.random()
        if roll < 0.03:
            return rng.randint(14, 24), True
        if roll < 0.09:
            return rng.randint(7, 14), False
        return rng.choices((0, 1, 2, 3, 5), weights=(62, 22, 8, 5, 3))[0], False

    def _basket(self, office: bool) -> list[LineItem]:
        rng = self.rng
        if office:
            drinks = rng.sample(PRODUCTS[:5], rng.choice((1, 2, 2)))
            return [LineItem(sku, name, rng.randint(4, 10), price) for sku, name, price in drinks]
        return [
            LineItem(sku, name, rng.choice((1, 1, 1, 2)), price)
            for sku, name, price in rng.sample(PRODUCTS, rng.choice((1, 1, 2, 3)))
        ]

    def orders(
        self, first_seen: datetime, now: datetime, count: int, office: bool = False
    ) -> list[DemoOrder]:
        rng = self.rng
        span = max((now - first_seen).total_seconds(), 3600.0)
        orders = []
        for n in range(count):
            channel, entry, _w = rng.choices(ENTRIES, weights=[e[2] for e in ENTRIES])[0]
            # Most buyers' first order follows their first sight within a month.
            soon = n == 0 and rng.random() < 0.6
            paid_at = first_seen + timedelta(
                seconds=rng.uniform(600, min(span, 30 * 86400.0) if soon else span)
            )
            lines = self._basket(office)
            age = now - paid_at
            status = (
                OrderStatus.REFUNDED
                if rng.random() < 0.04
                else OrderStatus.PAID
                if age < timedelta(days=1)
                else OrderStatus.SHIPPED
                if age < timedelta(days=4)
                else OrderStatus.COMPLETED
            )
            self.order_no += 1
            orders.append(
                DemoOrder(
                    channel=channel,
                    external_id=f"{paid_at:%Y%m%d}{self.order_no:08d}",
                    status=status,
                    items=lines,
                    paid_at=paid_at,
                    entry=self._fill(entry),
                )
            )
        return sorted(orders, key=lambda o: o.paid_at)

    def coupons(self) -> list[tuple[str, CouponKind, int, int | None, int]]:
        return self.rng.sample(COUPONS, self.rng.choice((0, 0, 0, 1, 1, 2)))

    def tags(
        self, orders: list[DemoOrder], first_seen: datetime, now: datetime
    ) -> list[tuple[str, datetime]]:
        """Rule tags, each dated when its rule would have fired."""
        tags = []
        coffee = [
            o
            for o in orders
            if any(i.sku.startswith(("LATTE", "OAT", "FLAT", "AMERICANO")) for i in o.items)
        ]
        if coffee:
            tags.append(("咖啡爱好者", coffee[0].paid_at))
        if len(orders) >= 2:
            tags.append(("复购用户", orders[1].paid_at))
        channels = [o for o in orders if o.channel is Channel.CHANNELS]
        if channels:
            tags.append(("视频号来源", channels[0].paid_at))
        if self.rng.random() < 0.1:
            span = max((now - first_seen).total_seconds(), 60.0)
            tags.append(("门店自提偏好", first_seen + timedelta(seconds=self.rng.uniform(0, span))))
        return tags

    def consents(self) -> list[Choice]:
        rng, choices = self.rng, list[Choice]()
        if rng.random() < 0.5:
            return choices  # most people never open the settings page
        if rng.random() < 0.8:
            choices.append(Choice(ConsentPurpose.MARKETING, None, True))
        if rng.random() < 0.1:
            choices.append(Choice(ConsentPurpose.MARKETING, Channel.SMS, False))
        if rng.random() < 0.08:
            choices.append(Choice(ConsentPurpose.ACTIVITY_NOTIFICATIONS, None, False))
        if rng.random() < 0.3:
            choices.append(Choice(ConsentPurpose.PERSONALIZATION, None, True))
        if rng.random() < 0.05:
            choices.append(Choice(ConsentPurpose.ANALYTICS, None, False))
        return choices

    def events(
        self, first_seen: datetime, now: datetime
    ) -> list[tuple[str, Channel, str | None, datetime]]:
        span = max((now - first_seen).total_seconds(), 60.0)
        return [
            (
                kind,
                channel,
                self._fill(entry),
                first_seen + timedelta(seconds=self.rng.uniform(0, span)),
            )
            for kind, channel, entry in self.rng.choices(EVENT_TYPES, k=self.rng.randrange(5))
        ]
