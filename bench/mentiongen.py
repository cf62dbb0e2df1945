"""Realistic synthetic Chinese mentions for benchmarks and tests (deterministic per seed).

    from bench.mentiongen import generate
    for m in generate(1000, seed=1):          # Mention objects
    for d in generate(1000, seed=1, as_dict=True):   # JSON-ready dicts (fast; for JSONL files)

30 brands across phones, cars, e-commerce, restaurants and appliances; 5 sources with the kinds
they really carry (JD/Dianping reviews with ratings, Weibo posts and comments, forum floors);
a sentiment mix of about 45% positive, 30% neutral, 20% negative and 5% not yet scored (each
scored one with an emotion that goes with it);
touchpoint aspects, keywords and engagement with a long tail; publication times spread over
`days` days before `end` with an evening peak.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from core.mention import Mention

BRANDS = [
    "小米", "华为", "苹果", "OPPO", "vivo", "荣耀", "一加", "魅族",
    "比亚迪", "蔚来", "小鹏", "理想", "特斯拉", "吉利", "长城",
    "京东", "淘宝", "拼多多", "美团", "饿了么",
    "海底捞", "喜茶", "瑞幸", "星巴克", "肯德基", "麦当劳",
    "海尔", "美的", "格力", "方太",
]
PRODUCTS = {
    "phone": ["手机", "新机", "折叠屏", "平板", "手表", "耳机"],
    "car": ["新车", "电动车", "SUV", "车机系统", "充电桩"],
    "shop": ["App", "会员", "订单", "快递", "优惠券"],
    "food": ["门店", "外卖", "新品", "套餐", "奶茶"],
    "home": ["空调", "冰箱", "洗衣机", "热水器", "油烟机"],
}
CATEGORY = {b: c for c, bs in {
    "phone": BRANDS[0:8], "car": BRANDS[8:15], "shop": BRANDS[15:20],
    "food": BRANDS[20:26], "home": BRANDS[26:30]}.items() for b in bs}
ASPECTS = {
    "phone": ["续航", "屏幕", "拍照", "系统", "价格", "售后", "物流"],
    "car": ["续航", "售后", "价格", "质量", "服务", "充电"],
    "shop": ["物流", "客服", "价格", "包装", "退款"],
    "food": ["口味", "服务", "环境", "价格", "排队", "卫生"],
    "home": ["质量", "安装", "售后", "价格", "噪音", "物流"],
}
PHRASES = {
    "positive": ["{a}真的很不错", "{a}超出预期", "{a}给满分", "对{a}很满意", "{a}比上一代好太多了",
                 "{a}方面没得说", "{a}很快，点赞"],
    "neutral": ["{a}一般般吧", "{a}还行，没什么特别", "想问问大家{a}怎么样", "{a}和别家差不多",
                "有没有人了解{a}"],
    "negative": ["{a}太差了", "{a}让人失望", "{a}问题一直没解决", "投诉{a}，没人理", "{a}真的无语",
                 "{a}坑了我好几次"],
}
OPENERS = ["今天入手了{b}{p}，", "用了一个月{b}{p}，", "说说{b}的{p}，", "#{b}{p}# ", "刚在{b}下单，",
           "@{b}客服 ", "朋友推荐的{b}{p}，", "第一次试{b}，", ""]
CLOSERS = ["", "", "。", "！", "[doge]", "[怒]", "，大家怎么看？", "，求推荐", "，还会回购", "，不会再买了"]
SOURCES = [("weibo", 0.40), ("tieba", 0.15), ("discuz", 0.10), ("jd", 0.20), ("dianping", 0.15)]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", None]
LABEL_MIX = [("positive", 0.45), ("neutral", 0.30), ("negative", 0.20), (None, 0.05)]
# Share of mentions per local hour of day: quiet nights, evening peak.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 6, 5, 5, 5, 5, 6, 7, 8, 9, 9, 7, 4]
SHANGHAI_OFFSET = timedelta(hours=8)


def _pick(rng: random.Random, weighted: list[tuple]) -> object:
    x = rng.random()
    for value, w in weighted:
        x -= w
        if x < 0:
            return value
    return weighted[-1][0]


def generate(n: int, seed: int = 0, brands: int = 30, days: int = 90, end: datetime | None = None,
             as_dict: bool = False, id_offset: int = 0) -> Iterator[Mention | dict]:
    """Yield `n` mentions (ids `{source}:{id_offset + i}`) published in the `days` before `end`."""
    if not 1 <= brands <= len(BRANDS):
        raise ValueError(f"brands must be between 1 and {len(BRANDS)}")
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_day = (end + SHANGHAI_OFFSET).date() - timedelta(days=days)
    names = BRANDS[:brands]
    brand_weights = [1 / (i + 1) ** 0.6 for i in range(brands)]  # a few big brands, a long tail
    hours = list(range(24))
    crawled = end.isoformat()
    for i in range(n):
        brand = rng.choices(names, brand_weights)[0]
        cat = CATEGORY[brand]
        product = rng.choice(PRODUCTS[cat])
        source = _pick(rng, SOURCES)
        label = _pick(rng, LABEL_MIX)
        tone = label or rng.choice(("positive", "neutral", "negative"))
        aspect_names = rng.sample(ASPECTS[cat], k=rng.choice((1, 1, 2, 3)))
        body = [rng.choice(OPENERS).format(b=brand, p=product)]
        aspects = []
        for a in aspect_names:
            a_tone = tone if rng.random() < 0.8 else rng.choice(("positive", "neutral", "negative"))
            phrase = rng.choice(PHRASES[a_tone]).format(a=a)
            body.append(phrase + "，")
            aspects.append({"touchpoint": a, "sentiment": a_tone, "text": phrase})
        second = None
        if rng.random() < 0.12:  # comparisons name a second brand
            second = rng.choice(names)
            body.append(f"感觉比{second}{rng.choice(('强', '差一点', '好用', '贵'))}")
        text = "".join(body).rstrip("，") + rng.choice(CLOSERS)
        day = first_day + timedelta(days=rng.randrange(days))
        local = datetime(day.year, day.month, day.day, rng.choices(hours, HOUR_WEIGHTS)[0],
                         rng.randrange(60), rng.randrange(60))
        published = (local - SHANGHAI_OFFSET).replace(tzinfo=UTC)
        if published >= end:
            published = end - timedelta(seconds=rng.randrange(1, 3600))
        kind = ("review" if source in ("jd", "dianping") else
                "comment" if rng.random() < 0.35 else "post")
        native = id_offset + i
        mid = f"discuz:bbs.example.com:{native}" if source == "discuz" else f"{source}:{native}"
        likes = int(rng.paretovariate(1.3)) - 1
        d = {
            "id": mid, "source": source, "kind": kind,
            "url": f"https://example.com/{source}/{native}",
            "parent_id": f"{source}:{native // 10}" if kind == "comment" else None,
            "title": f"{brand}{product}怎么样？" if source in ("tieba", "discuz") and kind == "post" else None,
            "text": text,
            "author": {"id": str(rng.randrange(10**6)), "name": f"用户{rng.randrange(10**6)}",
                       "followers": int(rng.paretovariate(1.1) * 10), "verified": rng.random() < 0.05},
            "published_at": published.isoformat(), "crawled_at": crawled,
            "metrics": {"likes": likes, "reposts": likes // 4, "comments": likes // 3,
                        "rating": (5 if tone == "positive" else 3 if tone == "neutral" else 1)
                        if kind == "review" else None},
            "location": rng.choice(CITIES), "keyword": brand,
            "brands": sorted({brand, second} - {None}),
            "sentiment": None if label is None else {
                "label": label, "probs": _probs(label), "score": _score(label), "model": "bench"},
            "emotion": None if label is None else _EMOTIONS[label][native % len(_EMOTIONS[label])],
            "keywords": aspect_names[:2] + [product],
            "topics": [cat],
            "aspects": aspects if label is not None else [],
            "lang": "zh",
        }
        yield d if as_dict else Mention.model_validate(d)


# emotions that go with each sentiment, picked by id (not by the generator's random stream, which
# would change every later mention of a seed)
_EMOTIONS = {"positive": ("happy", "happy", "happy", "surprise"), "neutral": ("neutral", "neutral", "surprise"),
             "negative": ("angry", "angry", "sad", "fear")}


def _probs(label: str) -> dict[str, float]:
    main = 0.8
    rest = (1 - main) / 2
    return {k: (main if k == label else rest) for k in ("positive", "neutral", "negative")}


def _score(label: str) -> float:
    return {"positive": 0.7, "neutral": 0.0, "negative": -0.7}[label]
