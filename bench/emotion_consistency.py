"""The emotion head's agreement with sentiment: choose the threshold on dev rows, score held-out once.

    python bench/emotion_consistency.py [--data ../shared/data/sentiment] [--shop-rows 3000]
    python bench/emotion_consistency.py --heldout        # once, for the model card: the chosen t only

The bundled head learnt its six emotions from Weibo posts (SMP2020-EWECT) and calls many plainly
positive shopping reviews angry, sad or fear. The rule (nlp/emotion.py, `sentiment_consistency` t):
sentiment positive with probability >= t turns a negative emotion into `happy`; sentiment negative
with probability >= t turns `happy` into `neutral`. For each t this prints, on the chosen split:

- smp2020_ewect macro-F1 over the six emotions (t = off is the head alone);
- on the online_shopping reviews (gold sentiment, no emotion labels): the share of gold-positive
  reviews given a negative emotion, and of gold-negative reviews given `happy` (contradictions).

Dev rows only by default (nlp.data.split_of); `--heldout` scores the held-out rows with the head's
saved t and with the rule off, nothing else.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "sentiment")
    ap.add_argument("--shop-rows", type=int, default=3000)
    ap.add_argument("--heldout", action="store_true", help="score the held-out rows once (the saved t and off)")
    args = ap.parse_args()
    os.environ["OPMON_NLP_ENABLED"] = "true"

    from core.settings import get_settings
    from nlp.analyzer import Analyzer
    from nlp.data import SEED, load_corpus, split_of
    from nlp.emotion import NEGATIVE_EMOTIONS, load_rows, macro_f1

    part = "heldout" if args.heldout else "dev"
    pipe = Analyzer.from_settings(get_settings().model_copy(update={"torch_threads": 1})).pipeline
    head = pipe.emotion
    if head is None:
        raise SystemExit("the configured model has no emotion head")
    smp_x, smp_y = load_rows(args.data, SEED)[part]
    shop = [e for e in load_corpus("online_shopping", args.data) if split_of(e.key) == part]
    random.Random(SEED).shuffle(shop)
    shop = shop[:args.shop_rows]

    def predict(texts):
        sent, emo = [], []
        for i in range(0, len(texts), 256):
            s, e = pipe._predict(texts[i:i + 256], emotion=True)
            sent.append(s)
            emo.append(e)
        import numpy as np

        return np.concatenate(sent), np.concatenate(emo)

    smp_s, smp_e = predict(smp_x)
    shop_s, shop_e = predict([e.text for e in shop])
    gold = [e.label for e in shop]
    n_pos = max(1, sum(g == "positive" for g in gold))
    n_neg = max(1, sum(g == "negative" for g in gold))
    saved = head.sentiment_consistency
    grid = (0.0, saved) if args.heldout else GRID
    print(f"{part} rows: smp2020_ewect {len(smp_x)}, online_shopping {len(shop)} ({n_pos} positive, {n_neg} negative)")
    print(f"{'t':>5} {'smp macro-F1':>13} {'positive -> angry/sad/fear':>27} {'negative -> happy':>18}")
    try:
        for t in grid:
            head.sentiment_consistency = t
            f1 = macro_f1(smp_y, head.labels(smp_e, smp_s))["macro_f1"]
            labels = head.labels(shop_e, shop_s)
            pos_bad = sum(g == "positive" and e in NEGATIVE_EMOTIONS for g, e in zip(gold, labels, strict=True))
            neg_bad = sum(g == "negative" and e == "happy" for g, e in zip(gold, labels, strict=True))
            name = "off" if t == 0 else f"{t:.2f}"
            print(f"{name:>5} {f1:13.4f} {pos_bad / n_pos:26.1%} {neg_bad / n_neg:18.1%}")
    finally:
        head.sentiment_consistency = saved
    print(f"(the head's saved t: {saved}; model {pipe.name})")


if __name__ == "__main__":
    main()
