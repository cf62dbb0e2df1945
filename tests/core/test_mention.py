from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.mention import SHANGHAI, Mention, mention_errors


def make(**kw):
    base = dict(id="weibo:1", source="weibo", kind="post", text="小米手机很好用",
                published_at=datetime(2025, 11, 22, 10, 0, tzinfo=SHANGHAI))
    base.update(kw)
    return Mention.model_validate(base)


def test_valid_mention_round_trips_through_json():
    m = make(metrics={"likes": 3, "rating": None}, author={"id": "1", "name": "a"}, emotion="angry")
    again = Mention.model_validate_json(m.model_dump_json())
    assert again == m
    assert again.published_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"text": "  "}, "text is empty"),
        ({"published_at": datetime(2025, 1, 1, 10, 0)}, "time zone"),
        ({"published_at": datetime.now(UTC) + timedelta(days=2)}, "future"),
        ({"kind": "tweet"}, "kind"),
        ({"id": "tieba:1"}, "must look like"),
        ({"source": "Weibo!", "id": "Weibo!:1"}, "source"),
        ({"sentiment": {"label": "angry", "probs": {}, "score": 0, "model": "x"}}, "sentiment.label"),
        ({"metrics": {"rating": 7}}, "rating"),
        ({"emotion": "joy"}, "emotion"),  # only the six emotions the NLP head gives
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_invalid_mentions_are_rejected_with_a_reason(change, reason):
    with pytest.raises(ValidationError) as exc:
        make(**change)
    assert reason in mention_errors(exc.value)


def test_review_with_rating_may_have_empty_text():
    m = make(id="jd:9", source="jd", kind="review", text="", metrics={"rating": 5})
    assert m.text == ""
    with pytest.raises(ValidationError):
        make(id="jd:9", source="jd", kind="review", text="")
