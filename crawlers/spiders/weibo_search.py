"""`scrapy crawl weibo_search -a keyword=K -a start=YYYY-MM-DD-H -a end=YYYY-MM-DD-H`

s.weibo.com HTML search (site-formats §1.2, §3.3): `/weibo?q={K}&timescope=custom:{start}:{end}&page={n}`.
The site shows at most ~50 pages per query (some queries stop in the 40s), so when a slice's pager
(`ul.s-scroll li`) lists SPLIT_THRESHOLD (46) or more pages the slice is split — into days, then hours,
then (with `-a regions=1`) provinces — and each part is queried again. Posts are deduplicated by
`mid` across slices. Full text comes from `feed_list_content_full` when present. `card-no-result` is
an empty slice, not an error. Items are `source` "weibo" with the same ids as the `weibo` spider.

Arguments: keyword (required); start/end (hours, `2025-11-20-0`; hour unpadded; default: the last 24
hours, or from `since`); pages (per slice, default 50); regions=1 (split busy hours by province).
A cookie is required on the real site: OPMON_COOKIE_WEIBO (only SUB is sent).
Incremental: without `start`, a repeat run begins at the hour of the newest mention already stored
(an explicit start/end range is always crawled as asked: a backfill).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from urllib.parse import quote, urljoin

from scrapy import Request

from core.errors import ConfigError, InvalidInput
from core.mention import SHANGHAI
from crawlers.parsing.counts import parse_count
from crawlers.parsing.dates import parse_cn_datetime
from crawlers.parsing.text import element_to_text
from crawlers.spiders.base import OpmonSpider, as_bool
from crawlers.spiders.weibo import M_WEIBO  # noqa: F401  (also registers the Weibo block detectors)

logger = logging.getLogger(__name__)

S_WEIBO = "https://s.weibo.com"
_HOUR = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})-(\d{1,2})$")
_UID = re.compile(r"weibo\.com/(?:u/)?(\d+)")
_BID = re.compile(r"weibo\.com/\d+/([0-9A-Za-z]+)")
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Sina province codes used by `region=custom:{code}:1000` (dataabc/weibo-search utils/region.py).
PROVINCES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门", "400": "海外",
    "100": "其他",
}


def bid_to_mid(bid: str) -> str | None:
    """Weibo's base62 post id ("PcZx1aBcD") to the numeric mid: 4-character chunks from the right,
    each base62-decoded and zero-padded to 7 digits (except the leftmost)."""
    if not bid or any(c not in _ALPHABET for c in bid):
        return None
    chunks = []
    end = len(bid)
    while end > 0:
        start = max(0, end - 4)
        value = 0
        for c in bid[start:end]:
            value = value * 62 + _ALPHABET.index(c)
        chunks.append(str(value).zfill(7) if start > 0 else str(value))
        end = start
    return "".join(reversed(chunks)).lstrip("0") or None


def parse_hour(value: str, name: str) -> datetime:
    m = _HOUR.match(value.strip())
    if not m:
        raise ConfigError(f"weibo_search: -a {name}={value!r} must look like YYYY-MM-DD-H (e.g. 2025-11-20-0)")
    y, mo, d, h = map(int, m.groups())
    if h > 23:
        raise ConfigError(f"weibo_search: -a {name}={value!r}: hour must be 0-23")
    return datetime(y, mo, d, h, tzinfo=SHANGHAI)


def fmt_hour(dt: datetime) -> str:
    return f"{dt:%Y-%m-%d}-{dt.hour}"


def floor_hour(dt: datetime) -> datetime:
    return dt.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)


class WeiboSearchSpider(OpmonSpider):
    name = "weibo_search"
    source = "weibo"
    block_sites = ("weibo",)
    cookie_site = "weibo"
    cookie_domains = ("weibo.cn", "weibo.com")  # never send the site's cookies to CDNs or third parties
    cookie_keep = ("SUB",)
    cookie_required = True
    default_pages = 50
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 3.0,
        "AUTOTHROTTLE_START_DELAY": 3.0,
        "COOKIES_ENABLED": False,
        "USER_AGENT": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/126.0.0.0 Safari/537.36"),
        "DEFAULT_REQUEST_HEADERS": {
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "zh-CN,zh;q=0.9",
            "Referer": f"{S_WEIBO}/",
        },
    }

    def __init__(self, keyword: str | None = None, start: str | None = None, end: str | None = None,
                 regions: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if not keyword or not keyword.strip():
            raise ConfigError("weibo_search: -a keyword=K is required")
        self.keyword = keyword.strip()
        now = datetime.now(SHANGHAI)
        self.end = parse_hour(end, "end") if end else floor_hour(now) + timedelta(hours=1)
        # An explicit range is crawled as asked (a backfill); the default rolling window is the
        # incremental mode the scheduler uses: it starts where the last crawl's mentions end.
        self.explicit_range = bool(start)
        if start:
            self.start_at = parse_hour(start, "start")
        elif self.since:
            self.start_at = floor_hour(self.since)
        else:
            self.start_at = self.end - timedelta(days=1)
        if self.start_at >= self.end:
            raise ConfigError(f"weibo_search: start {fmt_hour(self.start_at)} is not before end {fmt_hour(self.end)}")
        self.regions = as_bool(regions)
        self.seen_mids: set[str] = set()

    def state_key(self) -> str:
        return f"q={self.keyword}"

    def search_url(self, start: datetime, end: datetime, page: int, region: str | None = None) -> str:
        url = f"{S_WEIBO}/weibo?q={quote(self.keyword)}&timescope=custom:{fmt_hour(start)}:{fmt_hour(end)}"
        if region:
            url += f"&region=custom:{region}:1000"
        return f"{url}&page={page}"

    def slice_request(self, start: datetime, end: datetime, page: int = 1, region: str | None = None) -> Request:
        return Request(self.search_url(start, end, page, region), callback=self.parse_page,
                       meta={"slice": (start.isoformat(), end.isoformat(), region), "page": page},
                       priority=-page)

    async def start(self):
        start = self.start_at
        known = self.known_until
        if known is not None and not self.explicit_range and floor_hour(known) > start:
            start = min(floor_hour(known), self.end - timedelta(hours=1))
            logger.info("weibo_search %r: starting at %s (mentions stored up to %s)", self.keyword,
                        fmt_hour(start), known.isoformat())
        logger.info("weibo_search %r: %s .. %s", self.keyword, fmt_hour(start), fmt_hour(self.end))
        yield self.slice_request(start, self.end)

    # -- slicing ----------------------------------------------------------------------------
    def split(self, start: datetime, end: datetime, region: str | None) -> list[tuple]:
        span = end - start
        if region is None and span > timedelta(days=1):
            step, kind = timedelta(days=1), "days"
        elif region is None and span > timedelta(hours=1):
            step, kind = timedelta(hours=1), "hours"
        elif region is None and self.regions:
            self.count("splits/regions")
            return [(start, end, code) for code in PROVINCES]
        else:
            return []
        parts = []
        cur = start
        while cur < end:
            nxt = min(cur + step, end)
            parts.append((cur, nxt, None))
            cur = nxt
        self.count(f"splits/{kind}")
        return parts

    def parse_page(self, response):
        start_s, end_s, region = response.meta["slice"]
        start, end = datetime.fromisoformat(start_s), datetime.fromisoformat(end_s)
        page = response.meta["page"]
        self.count("pages")
        if response.css("div.card-no-result"):
            self.count("empty_slices" if page == 1 else "empty_pages")
            return
        cards = response.css("div.card-wrap[mid]")
        if not cards and not response.css("div#pl_feedlist_index, div.m-page"):
            self.malformed(response, "no result cards, no pager and no card-no-result")
            return
        dates = []
        for card in cards:
            for item in self.parse_card(card, response):
                dates.append(parse_cn_datetime(item["published_at"]))
                yield item
        if page != 1:
            return
        listed = len(response.css("ul.s-scroll li"))
        threshold = self.settings.getint("SPLIT_THRESHOLD", 46)
        if listed >= threshold:
            parts = self.split(start, end, region)
            if parts:
                logger.info("weibo_search %r: %s..%s lists %d pages; splitting into %d slices",
                            self.keyword, fmt_hour(start), fmt_hour(end), listed, len(parts))
                for s, e, r in parts:
                    yield self.slice_request(s, e, 1, r)
                return
            self.count("slices_capped")  # cannot split further: take the pages there are
        if self.page_is_old(dates):
            return
        if listed:
            for n in range(2, min(listed, self.max_pages) + 1):
                yield self.slice_request(start, end, n, region)
        elif (href := response.css("a.next::attr(href)").get()) and self.max_pages > 1:
            yield response.follow(urljoin(S_WEIBO, href), callback=self.parse_next,
                                  meta={"slice": response.meta["slice"], "page": 2})

    def parse_next(self, response):
        """Pages reached through `a.next` when there is no pager list (sequential)."""
        yield from self.parse_page(response)
        page = response.meta["page"]
        href = response.css("a.next::attr(href)").get()
        if href and page < self.max_pages and not response.css("div.card-no-result"):
            yield response.follow(urljoin(S_WEIBO, href), callback=self.parse_next,
                                  meta={"slice": response.meta["slice"], "page": page + 1})

    # -- cards -------------------------------------------------------------------------------
    def parse_card(self, card, response):
        mid = card.attrib.get("mid", "").strip()
        if not mid or mid in self.seen_mids:
            if mid:
                self.count("duplicate_mids")
            return
        self.seen_mids.add(mid)
        try:
            yield self.card_item(card, mid)
        except (InvalidInput, ValueError) as exc:
            self.count("malformed_posts")
            logger.warning("skipping post %s on %s: %s", mid, response.url, exc)
            return
        forward = card.css("div.card-comment [node-type=feed_list_forwardContent]")
        if forward:
            try:
                original = self.forward_item(card, forward[0])
            except (InvalidInput, ValueError) as exc:
                self.count("malformed_posts")
                logger.warning("skipping the original of %s: %s", mid, exc)
                original = None
            if original and original["id"].split(":", 1)[1] not in self.seen_mids:
                self.seen_mids.add(original["id"].split(":", 1)[1])
                self.count("retweeted_originals")
                yield original

    def card_item(self, card, mid: str) -> dict:
        content = card.css("div.card-feed div.content")
        if not content:
            raise InvalidInput("card without div.content")
        content = content[0]
        name_link = content.css("div.info a[nick-name]")
        href = name_link.attrib.get("href", "") if name_link else ""
        uid = _UID.search(href)
        text_el = (content.xpath("./p[@node-type='feed_list_content_full']")
                   or content.xpath("./p[@node-type='feed_list_content']"))
        if not text_el:
            raise InvalidInput("card without feed_list_content")
        when = content.xpath("./div[@class='from']/a[1]/text()").get() or ""
        avatar = card.css("div.avator").get() or ""
        act = card.css("div.card-act")
        return {
            "id": f"weibo:{mid}",
            "source": "weibo",
            "kind": "post",
            "url": f"{M_WEIBO}/detail/{mid}",
            "text": element_to_text(text_el[0]),
            "author": {
                "id": uid.group(1) if uid else None,
                "name": name_link.attrib.get("nick-name") if name_link else None,
                "verified": "woo_svg_v" in avatar or bool(content.css("div.info a i.icon-vip")),
            },
            "published_at": parse_cn_datetime(when).isoformat(),
            "metrics": self.act_counts(act[0]) if act else {},
            "keyword": self.keyword,
        }

    def act_counts(self, act) -> dict:
        def count(action: str) -> int | None:
            el = act.css(f"a[action-type={action}]")
            return parse_count(" ".join(el[0].css("::text").getall())) if el else None

        return {"reposts": count("feed_list_forward"), "comments": count("feed_list_comment"),
                "likes": count("feed_list_like")}

    def forward_item(self, card, forward) -> dict | None:
        """The retweeted original inside `div.card-comment` (its mid comes from the link's bid)."""
        box = card.css("div.card-comment")[0]
        link = box.xpath(".//div[@class='from']/a[1]")
        bid = _BID.search(link.attrib.get("href", "")) if link else None
        omid = bid_to_mid(bid.group(1)) if bid else None
        if not omid:
            return None
        name_link = forward.css("a[nick-name]")
        uid = _UID.search(name_link.attrib.get("href", "")) if name_link else None
        text_el = (box.xpath(".//p[@node-type='feed_list_content_full']")
                   or box.xpath(".//p[@node-type='feed_list_content']"))
        if not text_el:
            return None
        act = box.css("ul.act")
        counts = {}
        if act:
            nums = [parse_count(" ".join(li.css("::text").getall())) for li in act[0].css("li")]
            counts = dict(zip(("reposts", "comments", "likes"), nums, strict=False))
        return {
            "id": f"weibo:{omid}",
            "source": "weibo",
            "kind": "post",
            "url": f"{M_WEIBO}/detail/{omid}",
            "text": element_to_text(text_el[0]),
            "author": {"id": uid.group(1) if uid else None,
                       "name": name_link.attrib.get("nick-name") if name_link else None},
            "published_at": parse_cn_datetime(link.xpath("string()").get() or "").isoformat(),
            "metrics": counts,
            "keyword": self.keyword,
        }
