"""Keywords, emerging terms, topics and touchpoints on real-looking text."""

from datetime import UTC, datetime

import pytest

from core.errors import ConfigError
from core.mention import Label, Mention, Sentiment
from nlp.keywords import add_terms, emerging_terms, extract_keywords, tokens
from nlp.topics import Topic, c_tf_idf, discover_topics
from nlp.touchpoints import TouchpointMatcher, load_taxonomy

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)

LOGISTICS = ["快递三天才到，物流太慢了，包装还破了", "物流慢得离谱，快递员态度也差", "等了一周快递才送到，物流体验很差",
             "快递送到门口很及时，物流给力", "物流速度一般，快递包装简陋", "顺丰快递第二天就到了，物流很快"]
BATTERY = ["这手机的电池不耐用，一天要充三次电", "电池续航太差，充电还发烫", "电池掉电快，续航不行",
           "充电速度很快，电池续航也不错", "续航一般，电池容量有点小", "屏幕很清晰但是电池续航拉胯"]


def _mention(i, text, label=None):
    sentiment = None
    if label:
        probs = {lab: (1.0 if lab == label else 0.0) for lab in Label}
        sentiment = Sentiment(label=label, probs=probs, score=probs[Label.positive] - probs[Label.negative], model="t")
    return Mention(id=f"jd:{i}", source="jd", kind="review", text=text, published_at=NOW, sentiment=sentiment)


def test_keywords_keep_brand_names_whole_and_drop_stop_words():
    add_terms(["极氪001", "小鹏G9"])
    text = "我们觉得极氪001的续航真的很一般，充电也慢，还是小鹏G9的充电速度快。"
    kws = extract_keywords(text, top=6)
    assert "极氪001" in kws and "小鹏G9" in kws
    assert not {"我们", "觉得", "真的"} & set(kws)
    assert "充电" in kws or "续航" in kws
    assert "极氪001" in tokens(text)


def test_textrank_method_and_empty_text():
    text = "这家餐厅的服务员态度很好，菜品口味也不错，环境干净，上菜速度快，下次还会再来这家餐厅。"
    kws = extract_keywords(text, top=5, method="textrank")
    assert kws and len(kws) <= 5 and len(set(kws) & {"餐厅", "环境", "服务员", "口味", "菜品"}) >= 2
    assert not set(kws) & {"这家", "下次", "也"}
    assert extract_keywords("") == []


def test_emerging_terms_rank_the_new_complaint_first():
    baseline = ["物流很快，包装不错", "客服态度好，发货快", "质量不错，物流给力", "价格实惠，包装完好"] * 5
    window = ["刚买的热水器漏水了，客服也不管", "热水器漏水，地板都泡了", "漏水问题太严重了，物流倒是快",
              "物流很快，包装不错", "热水器安装后一直漏水"]
    top = emerging_terms(window, baseline, top=3)
    assert top[0][0] == "漏水" and top[0][1] > 0.5
    assert all(score > 0 for _, score in top)
    assert "物流" not in [t for t, _ in top]
    assert emerging_terms([], baseline) == []
    assert emerging_terms(window, [])[0][0] == "漏水"


def test_topics_separate_logistics_from_battery_complaints():
    labels = [Label.negative, Label.negative, Label.negative, Label.positive, Label.neutral, Label.positive]
    mentions = [_mention(i, t, labels[i]) for i, t in enumerate(LOGISTICS)]
    mentions += [_mention(100 + i, t, labels[i]) for i, t in enumerate(BATTERY)]
    topics = discover_topics(mentions, max_topics=2)
    assert len(topics) == 2 and all(isinstance(t, Topic) for t in topics)
    by_term = {t.id: set(t.terms[:4]) for t in topics}
    logistics = next(t for t in topics if {"物流", "快递"} & by_term[t.id])
    battery = next(t for t in topics if {"电池", "续航"} & by_term[t.id])
    assert logistics.id != battery.id
    assert all(mid.startswith("jd:") and int(mid[3:]) < 100 for mid in logistics.mention_ids)
    assert all(int(mid[3:]) >= 100 for mid in battery.mention_ids)
    assert sum(t.size for t in topics) == 12
    assert logistics.sentiment_counts[Label.negative] == 3
    assert logistics.sentiment[Label.negative] == pytest.approx(0.5)
    assert discover_topics(mentions, max_topics=2)[0].id == topics[0].id  # deterministic
    assert discover_topics([]) == []


def test_c_tf_idf_prefers_distinctive_terms():
    top = c_tf_idf([["物流", "物流", "好"], ["电池", "好"]], top=2)
    assert top[0][0][0] == "物流" and top[1][0][0] == "电池"


def test_touchpoints_match_sentences_in_each_taxonomy():
    matcher = TouchpointMatcher.from_names("ecommerce,restaurant,car")
    found = {(m.touchpoint, m.sentence) for m in matcher.match("物流很快。但是客服不理人!这车油耗有点高")}
    assert ("物流", "物流很快。") in found and ("客服", "但是客服不理人!") in found
    assert ("油耗", "这车油耗有点高") in found
    assert {m.touchpoint for m in matcher.match("排队一个小时,上菜也慢。")} >= {"排队", "上菜"}
    assert matcher.match("") == []
    clause = TouchpointMatcher.from_names("car", unit="clause")
    assert [m.sentence for m in clause.match("外观好看,油耗太高。")] == ["外观好看,", "油耗太高。"]


def test_taxonomy_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_taxonomy("nosuch")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfoo: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="touchpoints"):
        load_taxonomy(str(bad))
    custom = tmp_path / "bank.yaml"
    custom.write_text("name: bank\ntouchpoints:\n  柜台: [柜台, 排号]\n", encoding="utf-8")
    assert [m.touchpoint for m in TouchpointMatcher.from_names(str(custom)).match("柜台排号太久")] == ["柜台"]


def test_aspect_scoring_and_threshold_tuning():
    import numpy as np

    from nlp.aspect_eval import aspect_report, tune_aspect_threshold

    pairs = [("neutral", np.array([0.35, 0.30, 0.35])), ("positive", np.array([0.05, 0.05, 0.90])),
             ("negative", np.array([0.80, 0.10, 0.10])), ("neutral", np.array([0.40, 0.20, 0.40]))]
    report = aspect_report(pairs, tp=4, fp=1, fn=1, neutral_below=0.0)
    assert report["precision"] == 0.8 and report["recall"] == 0.8 and report["sentiment_accuracy"] == 0.5
    assert aspect_report(pairs, 4, 1, 1, neutral_below=0.5)["sentiment_accuracy"] == 1.0
    assert tune_aspect_threshold(pairs) == 0.45  # the smallest threshold that turns both unsure pairs neutral


def test_keywords_from_words_cut_once_match_jieba_tfidf():
    import re

    from nlp.keywords import _jieba, feature_words

    texts = ["物流很快，非常满意。客服不理人，退货麻烦!", "手机电池不耐用[怒]，充电发烫，售后推诿",
             "这家店的服务态度很好，上菜速度快，环境也不错，价格实惠", "今天天气不错"]
    _, tfidf, _ = _jieba()
    for text in texts:
        words = feature_words(text)
        assert "[" not in "".join(words) and all(w.strip() for w in words)  # emoticons cut out, no blanks
        shared = extract_keywords(text, 8, words=words)
        assert shared == extract_keywords(text, 8)
        # what jieba's own TF-IDF extractor picks from the same text (same stop words)
        direct = [w for w in tfidf.extract_tags(re.sub(r"\[[^\[\]\s]{1,8}\]", " ", text), topK=16)
                  if len(w) >= 2 and not w.isdigit()][:8]
        assert shared == direct and shared
