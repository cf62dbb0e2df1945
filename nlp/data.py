"""The shared training corpora, mapped to positive/neutral/negative, with a fixed held-out split.

The split is a seeded hash of each example's key (its normalised text; the post id for the car
set), so it never changes between runs or machines, and duplicate texts always land on the same
side: nothing in a held-out split was seen in training. Buckets: 0-9 held-out (10%), 10-14 dev
(5%, for early stopping and the ensemble weight), the rest train.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError
from nlp.normalise import normalise, strip_emoticons

SEED = 20261122
BINARY = ("online_shopping", "weibo2018", "weibo_senti_100k")
THREE_CLASS = ("smp2020_ewect", "bdci2018_car")
CORPORA = BINARY + THREE_CLASS
FILES = {
    "online_shopping": "online_shopping_10_cats_nohotel.csv",
    "weibo2018": "weibo2018_train.csv",
    "weibo_senti_100k": "weibo_senti_100k_subset.csv",
    "smp2020_ewect": "smp2020_ewect_train.csv",
    "bdci2018_car": "bdci2018_car_train.csv",
}
# surprise (惊奇) is dropped: it is as often bad news as good, and not "no opinion" either.
EMOTION_MAP = {"happy": "positive", "neutral": "neutral", "angry": "negative", "sad": "negative",
               "fear": "negative"}
CAR_MAP = {"1": "positive", "0": "neutral", "-1": "negative"}


@dataclass
class Example:
    text: str  # normalised
    label: str  # positive / neutral / negative
    corpus: str
    key: str
    aspects: list[tuple[str, str]] = field(default_factory=list)  # car set: (subject, label)


def data_dir() -> Path | None:
    """The corpora folder: $OPMON_SENTIMENT_DATA, else ../shared/data/sentiment beside the repo."""
    env = os.environ.get("OPMON_SENTIMENT_DATA")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parent.parent
    candidates += [repo.parent / "shared" / "data" / "sentiment", Path("/work/shared/data/sentiment")]
    for c in candidates:
        if (c / FILES["online_shopping"]).exists():
            return c
    return None


def require_data_dir(path: str | Path | None = None) -> Path:
    found = Path(path) if path else data_dir()
    if found is None or not found.is_dir():
        raise ConfigError("sentiment corpora not found: set OPMON_SENTIMENT_DATA or pass --data")
    return found


def bucket(key: str, seed: int = SEED) -> int:
    return int(hashlib.md5(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 100


def split_of(key: str, seed: int = SEED) -> str:
    b = bucket(key, seed)
    return "heldout" if b < 10 else "dev" if b < 15 else "train"


def _rows(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        yield from csv.DictReader(f)


def load_corpus(name: str, root: Path) -> list[Example]:
    path = root / FILES[name]
    out: list[Example] = []
    if name in ("online_shopping", "weibo2018", "weibo_senti_100k"):
        for row in _rows(path):
            text = normalise(row["review"])
            if name == "weibo_senti_100k":
                # Its labels were assigned from emoticons: drop them or a model learns only that.
                text = strip_emoticons(text)
            label = {"1": "positive", "0": "negative"}.get(row["label"].strip())
            if text and label:
                out.append(Example(text, label, name, text))
    elif name == "smp2020_ewect":
        for row in _rows(path):
            text = normalise(row["review"])
            label = EMOTION_MAP.get(row["label"].strip())
            if text and label:
                out.append(Example(text, label, name, text))
    elif name == "bdci2018_car":
        posts: dict[str, dict] = defaultdict(lambda: {"text": "", "aspects": []})
        for row in _rows(path):
            post = posts[row["content_id"].strip()]
            post["text"] = row["content"]
            post["aspects"].append((row["subject"].strip(), CAR_MAP[row["sentiment_value"].strip()]))
        for cid, post in posts.items():
            text = normalise(post["text"])
            polarities = {lab for _, lab in post["aspects"]} - {"neutral"}
            if not text or len(polarities) > 1:
                continue  # mixed-polarity posts have no single post-level label
            label = polarities.pop() if polarities else "neutral"
            out.append(Example(text, label, name, f"car:{cid}", aspects=sorted(set(post["aspects"]))))
    else:
        raise ConfigError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    return out


def load_split(root: Path, split: str, corpora=CORPORA, seed: int = SEED) -> list[Example]:
    return [ex for name in corpora for ex in load_corpus(name, root) if split_of(ex.key, seed) == split]


def load_all(root: Path, corpora=CORPORA, seed: int = SEED) -> dict[str, list[Example]]:
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "heldout": []}
    for name in corpora:
        for ex in load_corpus(name, root):
            parts[split_of(ex.key, seed)].append(ex)
    return parts


def car_heldout_aspects(root: Path, seed: int = SEED, split: str = "heldout") -> list[Example]:
    """Car posts of one split with all their aspect rows (mixed-polarity posts included)."""
    posts: dict[str, dict] = defaultdict(lambda: {"text": "", "aspects": []})
    for row in _rows(root / FILES["bdci2018_car"]):
        post = posts[row["content_id"].strip()]
        post["text"] = row["content"]
        post["aspects"].append((row["subject"].strip(), CAR_MAP[row["sentiment_value"].strip()]))
    return [Example(normalise(p["text"]), "", "bdci2018_car", f"car:{cid}", sorted(set(p["aspects"])))
            for cid, p in posts.items() if split_of(f"car:{cid}", seed) == split]
