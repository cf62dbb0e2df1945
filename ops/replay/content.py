"""The replay site's world: two invented brands, their customers, and a complaint surge.

Everything here is made up (no real people, posts or shops). Times are relative to `now`, so the
surge is always "happening now": a quiet day of ordinary posts and reviews, then, over the last
three hours, a growing wave of complaints (澜鲸: phones whose batteries swell while charging;
沸腾里: a hot-pot chain with a food-safety scandal). The same seed always gives the same world.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.mention import SHANGHAI

PHONE = "澜鲸"
HOTPOT = "沸腾里"
PHONE_KEYWORD = "澜鲸手机"
HOTPOT_KEYWORD = "沸腾里火锅"
JD_PRODUCT = "100088880001"
TIEBA_FORUM = "澜鲸"
DIANPING_SHOP = "Lk9FtL0Hp2QrS4Tu"
DISCUZ_FID = "7"
SURGE_HOURS = 3.0
QUIET_HOURS = 22.0  # inside the default 24-hour window of a first weibo_search run

# Brands as brands.yaml / /v1/brands know them. The discuz board URL is rebased onto the replay site.
DEMO_BRANDS = [
    {
        "name": PHONE, "keywords": [PHONE_KEYWORD], "aliases": ["Lanjing", "澜鲸X9"],
        "exclusions": ["澜鲸湾"], "sources": ["weibo", "weibo_search", "tieba", "jd"],
        "targets": {"tieba": [TIEBA_FORUM], "jd": [JD_PRODUCT]}, "sensitivity": "balanced",
    },
    {
        "name": HOTPOT, "keywords": [HOTPOT_KEYWORD], "aliases": ["Feitengli"],
        "sources": ["weibo", "dianping", "discuz"],
        "targets": {"dianping": [DIANPING_SHOP], "discuz": [f"http://bbs.chihuo.example/|{DISCUZ_FID}"]},
        "sensitivity": "balanced",
    },
]

CITIES = ["北京", "上海", "广东", "浙江", "江苏", "四川", "湖北", "山东", "福建", "重庆"]
NICKS = ["晴天小柚子", "阿杰不加班", "吃货老王", "数码小白", "夜跑的猫", "一只咸鱼", "橘子汽水", "山野闲人",
         "今天也要早睡", "路过的网友", "码农小李", "奶茶续命", "风里的少年", "木子李", "小鹿乱撞", "十一月的雨",
         "老张说数码", "火锅爱好者", "早八人", "追光的人"]

PHONE_GOOD = [
    "{b}X9的屏幕真的细腻，晚上看剧一点不刺眼，满意",
    "用了两周{k}，续航一天半没问题，拍照也清晰，推荐",
    "{b}X9手感很好，系统流畅，比我上一台强太多了",
    "给我爸买的{k}，字大声音大，老人家很喜欢",
    "{b}X9夜景模式绝了，随手一拍就是壁纸[赞]",
]
PHONE_NEUTRAL = [
    "{b}X9和隔壁旗舰怎么选？预算四千左右，求推荐",
    "{k}今天的系统更新有人升了吗，改了什么",
    "请问{b}X9支持双卡双待吗",
    "{b}新品发布会定在下周，有人去现场吗",
]
PHONE_BAD_MILD = ["{b}X9的相机偶尔对焦慢，希望下个版本修复", "{k}的手机壳太滑了，差点摔了"]
PHONE_SURGE_OPEN = ["气死了！", "避雷！", "大家注意！", "真的无语了，", "紧急求助：", "太坑了，", ""]
PHONE_SURGE_PROBLEM = [
    "{b}X9充电的时候电池鼓包了，后盖都顶起来了",
    "刚买一个月的{k}充电烫得没法拿，闻到一股焦味",
    "{b}X9电池鼓包不是个例，群里已经十几个人了",
    "我的{b}X9半夜充电突然冒烟，吓得我一晚没睡",
    "{k}电池鼓包把屏幕都撑裂了",
    "{b}X9充到一半自动关机，再开机电池就鼓了",
]
PHONE_SURGE_SERVICE = [
    "客服只会说'正常现象'，太差劲了", "售后让我自己寄回去还要等半个月", "客服电话根本打不通",
    "门店说要收三百检测费，凭什么", "官方到现在一个说法都没有", "退货还要扣钱，垃圾服务",
]
PHONE_SURGE_DEMAND = ["要求召回！", "再也不买{b}了[怒]", "#{b}电池鼓包#", "请给个说法！", "已经投诉到12315了", ""]

POT_GOOD = [
    "{b}的毛肚很新鲜，服务员也很热情，下次还来",
    "周末和朋友去了{k}，锅底香，小料台干净，好评",
    "{b}的番茄锅太好喝了[馋嘴]",
    "带孩子去{b}，店员主动给拿了儿童椅，很贴心",
]
POT_NEUTRAL = ["{k}周末一般要排多久？", "{b}新开的分店在哪里", "{b}有没有团购券，求分享", "{k}和隔壁那家比怎么样"]
POT_BAD_MILD = ["{b}今天上菜有点慢，不过味道还行", "{k}人均有点贵了"]
POT_SURGE_PROBLEM = [
    "在{b}吃火锅，锅底里捞出一只虫子",
    "{b}的后厨视频太恶心了，员工直接用手抓菜",
    "昨天在{k}吃完，全家拉肚子到半夜",
    "{b}的毛肚一股怪味，明显不新鲜",
    "{b}被曝用回收油，我上周刚去吃过",
    "{k}的鸭血里吃出了头发",
]
POT_SURGE_SERVICE = [
    "店长还不承认，只说给打个折", "服务员态度恶劣，叫了三次没人理", "要求退款被拒绝了",
    "打客服电话一直占线", "门店说是个例，敷衍了事", "食品安全就这么糊弄吗",
]
POT_SURGE_DEMAND = ["再也不去了！", "已经报给市场监管局了", "#{b}食品安全#", "大家千万别去[怒]", "必须给个说法！", ""]


@dataclass
class Person:
    uid: int
    name: str
    followers: int
    verified: bool
    city: str


@dataclass
class Item:
    """One invented mention: a weibo post, a forum floor or a review."""

    native_id: str
    brand: str
    author: Person
    text: str
    published: datetime
    sentiment: str  # what we wrote it as: positive / neutral / negative
    surge: bool = False
    likes: int = 0
    reposts: int = 0
    comments: int = 0
    rating: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Thread:
    tid: str
    title: str
    floors: list[Item]  # floors[0] is the opening post

    @property
    def last_time(self) -> datetime:
        return max(f.published for f in self.floors)


@dataclass
class World:
    now: datetime
    weibo: dict[str, list[Item]]       # keyword -> posts, newest first
    tieba: dict[str, list[Thread]]     # forum -> threads, newest activity first
    jd: dict[str, list[Item]]          # product id -> reviews, newest first
    dianping: dict[str, list[Item]]    # shop id -> reviews, newest first
    discuz: dict[str, list[Thread]]    # fid -> threads, newest activity first

    def all_items(self) -> list[Item]:
        seen: dict[str, Item] = {}
        for posts in self.weibo.values():
            for p in posts:
                seen.setdefault("weibo:" + p.native_id, p)
        for threads in self.tieba.values():
            for t in threads:
                for f in t.floors:
                    seen["tieba:" + f.native_id] = f
        for reviews in self.jd.values():
            for r in reviews:
                seen["jd:" + r.native_id] = r
        for reviews in self.dianping.values():
            for r in reviews:
                seen["dianping:" + r.native_id] = r
        for threads in self.discuz.values():
            for t in threads:
                for f in t.floors:
                    seen["discuz:" + f.native_id] = f
        return list(seen.values())


class _Gen:
    def __init__(self, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.now = now.astimezone(SHANGHAI).replace(microsecond=0)
        self.people = [Person(uid=5_000_000_000 + i * 7919, name=n, followers=self.rng.choice(
            [12, 86, 240, 1_530, 8_800, 36_200, 120_000]), verified=i % 7 == 0, city=self.rng.choice(CITIES))
            for i, n in enumerate(NICKS)]
        self.seq = 0

    def person(self) -> Person:
        return self.rng.choice(self.people)

    def next_id(self, base: int) -> str:
        self.seq += 1
        return str(base + self.seq * 37 + self.rng.randint(0, 30))

    def quiet_time(self) -> datetime:
        # the quiet day ends where the surge starts, so the surge stands out against it
        t = self.now - timedelta(hours=self.rng.uniform(SURGE_HOURS + 0.3, QUIET_HOURS))
        return t.replace(microsecond=0)

    def surge_time(self) -> datetime:
        # density grows towards now: sqrt of a uniform puts more mass near the end of the window
        frac = self.rng.random() ** 0.5
        t = self.now - timedelta(hours=SURGE_HOURS * (1 - frac))
        return min(t, self.now - timedelta(minutes=1)).replace(microsecond=0)

    def text(self, brand: str, kind: str) -> str:
        b, k = (PHONE, PHONE_KEYWORD) if brand == PHONE else (HOTPOT, HOTPOT_KEYWORD)
        r = self.rng
        if kind == "surge":
            if brand == PHONE:
                parts = [r.choice(PHONE_SURGE_OPEN), r.choice(PHONE_SURGE_PROBLEM), "，",
                         r.choice(PHONE_SURGE_SERVICE), "。", r.choice(PHONE_SURGE_DEMAND)]
            else:
                parts = [r.choice(PHONE_SURGE_OPEN), r.choice(POT_SURGE_PROBLEM), "，",
                         r.choice(POT_SURGE_SERVICE), "。", r.choice(POT_SURGE_DEMAND)]
            return "".join(parts).format(b=b, k=k)
        pools = {
            (PHONE, "positive"): PHONE_GOOD, (PHONE, "neutral"): PHONE_NEUTRAL, (PHONE, "negative"): PHONE_BAD_MILD,
            (HOTPOT, "positive"): POT_GOOD, (HOTPOT, "neutral"): POT_NEUTRAL, (HOTPOT, "negative"): POT_BAD_MILD,
        }
        return r.choice(pools[(brand, kind)]).format(b=b, k=k)

    def quiet_kind(self) -> str:
        return self.rng.choices(["positive", "neutral", "negative"], weights=[5, 4, 1])[0]

    def item(self, brand: str, base: int, surge: bool, **kw) -> Item:
        kind = "surge" if surge else self.quiet_kind()
        p = self.person()
        engagement = self.rng.randint(20, 900) if surge else self.rng.randint(0, 60)
        return Item(
            native_id=self.next_id(base), brand=brand, author=p, text=self.text(brand, kind),
            published=self.surge_time() if surge else self.quiet_time(),
            sentiment="negative" if surge else kind, surge=surge, likes=engagement,
            reposts=engagement // 3, comments=engagement // 5, **kw,
        )

    def items(self, brand: str, base: int, quiet: int, surge: int, **kw) -> list[Item]:
        out = [self.item(brand, base, False, **kw) for _ in range(quiet)]
        out += [self.item(brand, base, True, **kw) for _ in range(surge)]
        return sorted(out, key=lambda i: i.published, reverse=True)

    def threads(self, brand: str, tid_base: int, pid_base: int, n_quiet: int, n_surge: int) -> list[Thread]:
        threads = []
        for i in range(n_quiet + n_surge):
            surge = i >= n_quiet
            first = self.item(brand, pid_base, surge)
            replies = []
            for _ in range(self.rng.randint(2, 5) if not surge else self.rng.randint(4, 9)):
                reply = self.item(brand, pid_base, surge)
                reply.published = first.published + timedelta(minutes=self.rng.randint(1, 90))
                if reply.published > self.now - timedelta(minutes=1):
                    reply.published = self.now - timedelta(minutes=1)
                replies.append(reply)
            replies.sort(key=lambda r: r.published)
            title = first.text.split("，")[0].split("。")[0].strip("！!#") or first.text[:20]
            threads.append(Thread(tid=self.next_id(tid_base), title=title[:30], floors=[first, *replies]))
        return sorted(threads, key=lambda t: t.last_time, reverse=True)


def _bid(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(9))


def build_world(now: datetime | None = None, seed: int = 7, scale: int = 1) -> World:
    """The demo world; `scale` multiplies every source's volume (bigger crawls for tests)."""
    now = now or datetime.now(UTC)
    g = _Gen(seed, now)
    phone_posts = g.items(PHONE, 5_020_000_000_000_000, quiet=14 * scale, surge=32 * scale)
    pot_posts = g.items(HOTPOT, 5_030_000_000_000_000, quiet=12 * scale, surge=24 * scale)
    for p in phone_posts + pot_posts:
        p.extra["bid"] = _bid(g.rng)
        p.extra["region"] = p.author.city
        p.extra["source"] = g.rng.choice(["iPhone客户端", "微博 weibo.com", "澜鲸X9", "Android"])
    # one long post, fetched in full from /detail/{id}
    long_post = phone_posts[1]
    long_post.text = long_post.text + "。" + "我把经过写清楚：" + "买了三周，每天晚上充电，" * 6 + "今天发现后盖翘起来了。"
    long_post.extra["long"] = True
    rating_for = {"positive": [5, 5, 4], "neutral": [4, 3], "negative": [2, 3]}
    jd = g.items(PHONE, 1_330_000_000, quiet=12 * scale, surge=16 * scale)
    for r in jd:
        r.rating = 1 if r.surge else g.rng.choice(rating_for[r.sentiment])
    jd[-1].text = "此用户未填写评价内容"  # JD's placeholder: a rating without customer text
    jd[-1].rating, jd[-1].sentiment = 5, "positive"
    dp = g.items(HOTPOT, 712_000_000, quiet=10 * scale, surge=12 * scale)
    for r in dp:
        r.rating = g.rng.choice([1, 2]) if r.surge else g.rng.choice(rating_for[r.sentiment])
        r.extra["price"] = g.rng.choice([98, 112, 126, 135])
    return World(
        now=g.now,
        weibo={PHONE_KEYWORD: phone_posts, HOTPOT_KEYWORD: pot_posts},
        tieba={TIEBA_FORUM: g.threads(PHONE, 9_300_000_000, 152_000_000_000, n_quiet=6 * scale, n_surge=7 * scale)},
        jd={JD_PRODUCT: jd},
        dianping={DIANPING_SHOP: dp},
        discuz={DISCUZ_FID: g.threads(HOTPOT, 5000, 80_000, n_quiet=4 * scale, n_surge=5 * scale)},
    )
