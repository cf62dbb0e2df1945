"""The explanation payload: what an analyst needs to act on an alert without opening five tabs.

Observed vs expected, probability and severity, the window, top emerging terms, top mentions by
engagement, the split by source and location against the baseline, the sentiment shift, the
touchpoints hit, and a one-line summary in Chinese and English. Every part is best-effort: a store
or NLP failure leaves that part empty (and listed under `unavailable`) but never blocks the alert.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from core.errors import OpmonError
from core.mention import Label
from store.base import Filters, SearchQuery, Store

log = logging.getLogger(__name__)

SOURCE_ZH = {"weibo": "微博", "tieba": "贴吧", "discuz": "论坛", "jd": "京东", "dianping": "大众点评"}
KIND_ZH = {"volume_surge": "提及量激增", "negative_volume_surge": "负面提及激增",
           "negative_share_surge": "负面占比上升", "volume_drop": "提及量骤降", "crawl_blocked": "采集受阻"}
KIND_EN = {"volume_surge": "mention surge", "negative_volume_surge": "negative-mention surge",
           "negative_share_surge": "negative-share rise", "volume_drop": "mention drop",
           "crawl_blocked": "crawl blocked"}
NEGATIVE_KINDS = {"negative_volume_surge", "negative_share_surge"}
BASELINE = timedelta(days=7)
TEXT_SAMPLE = 300


def window_words(minutes: int) -> tuple[str, str]:
    if minutes % 60 == 0:
        h = minutes // 60
        return (f"{h}小时", "hour" if h == 1 else f"{h} hours")
    return (f"{minutes}分钟", f"{minutes} minutes")


def _texts(store: Store, f: Filters, limit: int) -> list[str]:
    page = store.search(SearchQuery(**f.model_dump(), limit=min(limit, 1000)))
    return [" ".join(x for x in (m.title, m.text) if x) for m in page.items]


def _share(counts: dict[str, int], key: str) -> float | None:
    total = sum(counts.values())
    return counts.get(key, 0) / total if total else None


def explain(store: Store | None, *, brand: str, kind: str, since: datetime, until: datetime,
            observed: float, expected: float, p_value: float, score: float, severity: str,
            low_confidence: bool = False, share: tuple[float, float] | None = None,
            top: int = 5) -> dict[str, Any]:
    """Build the payload for one alert window [since, until).

    `share` is (observed, expected) negative share for share alerts; otherwise it is read from the
    store's sentiment breakdown.
    """
    minutes = max(1, int(round((until - since).total_seconds() / 60)))
    ratio = observed / expected if expected > 0 else None
    out: dict[str, Any] = {
        "brand": brand, "kind": kind,
        "window": {"since": since.isoformat(), "until": until.isoformat(), "minutes": minutes},
        "observed": round(float(observed), 3), "expected": round(float(expected), 3),
        "ratio": round(ratio, 3) if ratio is not None else None,
        "p_value": float(p_value), "score": round(float(score), 4), "severity": severity,
        "low_confidence": bool(low_confidence),
        "emerging_terms": [], "top_mentions": [], "sources": {}, "locations": {},
        "sentiment": {}, "touchpoints": [], "unavailable": [],
    }
    win = Filters(brands=[brand], since=since, until=until)
    base = Filters(brands=[brand], since=since - BASELINE, until=since)
    neg_only = kind in NEGATIVE_KINDS

    def part(name: str, fn) -> None:
        if store is None:
            out["unavailable"].append(name)
            return
        try:
            fn()
        except (OpmonError, ValueError, ImportError) as exc:
            log.warning("alert explanation: %s unavailable for %s: %s", name, brand, exc)
            out["unavailable"].append(name)

    def sentiment() -> None:
        now = store.breakdown(win, by="sentiment")
        before = store.breakdown(base, by="sentiment")
        s_now, s_before = _share(now, "negative"), _share(before, "negative")
        if share is not None:
            s_now, s_before = share
        out["sentiment"] = {
            "window": now, "baseline": before,
            "negative_share": round(s_now, 4) if s_now is not None else None,
            "baseline_negative_share": round(s_before, 4) if s_before is not None else None,
            "shift_points": round(100 * (s_now - s_before), 1) if s_now is not None and s_before is not None
            else None,
        }

    def emerging() -> None:
        from nlp.keywords import emerging_terms

        f = win.model_copy(update={"sentiments": [Label.negative]}) if neg_only else win
        b = base.model_copy(update={"sentiments": [Label.negative]}) if neg_only else base
        terms = emerging_terms(_texts(store, f, TEXT_SAMPLE), _texts(store, b, TEXT_SAMPLE), top=10)
        out["emerging_terms"] = [{"term": t, "score": round(float(s), 4)} for t, s in terms]

    def mentions() -> None:
        q = SearchQuery(brands=[brand], since=since, until=until, limit=top, sort="engagement",
                        sentiments=[Label.negative] if neg_only else [])
        out["top_mentions"] = [{
            "id": m.id, "source": m.source, "url": m.url, "published_at": m.published_at.isoformat(),
            "text": (m.title + " " if m.title else "") + m.text[:200],
            "engagement": m.metrics.engagement(), "location": m.location,
            "sentiment": m.sentiment.label.value if m.sentiment else None,
        } for m in store.search(q).items]

    def split(by: str, key: str) -> None:
        now = store.breakdown(win, by=by, limit=10)
        before = store.breakdown(base, by=by, limit=10)
        tot_now, tot_before = sum(now.values()) or 1, sum(before.values()) or 1
        out[key] = {k: {"window": v, "share": round(v / tot_now, 4),
                        "baseline_share": round(before.get(k, 0) / tot_before, 4)} for k, v in now.items()}

    def touchpoints() -> None:
        tp = store.touchpoints(win)
        rows = sorted(tp.items(), key=lambda kv: (-kv[1].get("negative", 0), -sum(kv[1].values())))
        out["touchpoints"] = [{"touchpoint": k, **v} for k, v in rows[:top]]

    part("sentiment", sentiment)
    part("emerging_terms", emerging)
    part("top_mentions", mentions)
    part("sources", lambda: split("source", "sources"))
    part("locations", lambda: split("location", "locations"))
    part("touchpoints", touchpoints)
    out["summary_zh"], out["summary_en"] = summaries(out)
    return out


def summaries(e: dict[str, Any]) -> tuple[str, str]:
    """One line each, in Chinese and English, from an explanation dict."""
    brand, kind = e["brand"], e["kind"]
    wz, we = window_words(e["window"]["minutes"])
    obs, exp, ratio = e["observed"], e["expected"], e.get("ratio")
    sent = e.get("sentiment") or {}
    if kind == "negative_share_surge":
        now, before = sent.get("negative_share"), sent.get("baseline_negative_share")
        zh = f"{brand}：近{wz}负面占比{_pct(now)}（预期{_pct(before)}），负面{obs:.0f}条（预期{exp:.0f}条）"
        en = f"{brand}: negative share {_pct(now)} in the last {we} (expected {_pct(before)}), " \
             f"{obs:.0f} negative mentions vs {exp:.0f} expected"
    elif kind == "volume_drop":
        zh = f"{brand}：近{wz}提及量{obs:.0f}条，远低于预期{exp:.0f}条"
        en = f"{brand}: {obs:.0f} mentions in the last {we}, far below the expected {exp:.0f}"
    else:
        what_zh = "负面提及" if kind == "negative_volume_surge" else "提及量"
        what_en = "negative mentions" if kind == "negative_volume_surge" else "mentions"
        r = f"{ratio:.1f}" if ratio is not None else "∞"
        zh = f"{brand}：近{wz}{what_zh}{obs:.0f}条，是预期{exp:.0f}条的{r}倍"
        en = f"{brand}: {obs:.0f} {what_en} in the last {we}, {r}x the expected {exp:.0f}"
        if sent.get("shift_points") is not None and kind == "volume_surge":
            zh += f"，负面占比{_pct(sent.get('negative_share'))}（{sent['shift_points']:+.0f}个百分点）"
            en += f"; negative share {_pct(sent.get('negative_share'))} ({sent['shift_points']:+.0f} pts)"
    sources = e.get("sources") or {}
    if sources:
        top_src = max(sources.items(), key=lambda kv: kv[1]["window"])[0]
        zh += f"；主要来源：{SOURCE_ZH.get(top_src, top_src)}"
        en += f"; mostly from {top_src}"
    terms = [t["term"] for t in (e.get("emerging_terms") or [])[:3]]
    if terms:
        zh += f"；新词：{'、'.join(terms)}"
        en += f"; emerging: {', '.join(terms)}"
    tps = [t["touchpoint"] for t in (e.get("touchpoints") or []) if t.get("negative", 0) > 0][:2]
    if tps:
        zh += f"；负面集中在{'、'.join(tps)}"
        en += f"; complaints about {', '.join(tps)}"
    return zh + "。", en + "."


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"
