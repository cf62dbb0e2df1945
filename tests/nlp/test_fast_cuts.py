"""The speed paths give exactly what the libraries give: `feature_words()` = jieba's own cut (HMM on,
brand names added), `CharTokenTable` = the tokenizer's ids. Texts are built here (no corpora needed)
from jieba's real dictionary, so the cuts meet real ambiguities, unknown runs (HMM) and odd input."""

from __future__ import annotations

import random
from pathlib import Path

import jieba
import pytest

import nlp.keywords as kw
from nlp.normalise import normalise
from nlp.sentiment import CharTokenTable

BUNDLED = Path(kw.__file__).parent / "models" / "bundled"
_ODD = ["[怒]", "[哈哈]", "😂", "!!", "？", "。", "，", "…", "-", "--", "3.5%", "C#", "AT&T", "iPhone 15", "  ", "\t",
        "\n", "\u3000", "ΣΟΦΟΣ", "İ", "𠀀", "e\u0301", "\u00a0", "2024-11-22", "Model-3", "a.b", "50%", "#话题#"]


def _words() -> list[str]:
    path = Path(jieba.__file__).parent / "dict.txt"
    rng = random.Random(1)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split(" ")[0] for line in rng.sample(lines, 6000)]


def _texts(n: int, seed: int = 2) -> list[str]:
    """Runs of dictionary words (overlapping, so the DAG has choices), rare characters the
    dictionary lacks (HMM), and punctuation / Latin / digits / whitespace between them."""
    rng = random.Random(seed)
    words = _words()
    rare = [chr(c) for c in range(0x4E00, 0x9FA5, 37)]
    out = ["", " ", "好", "的的的的", "呵呵呵", "杜拉拉拉", "庄子諵哗"]
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            r = rng.random()
            if r < 0.6:
                parts.append(rng.choice(words))
            elif r < 0.8:
                parts.append("".join(rng.choice(rare) for _ in range(rng.randint(1, 5))))
            else:
                parts.append(rng.choice(_ODD))
        out.append("".join(parts))
    return out


def _jieba_words(text: str) -> list[str]:
    """What `feature_words` computed before the fused cut: jieba.lcut itself."""
    return [w for w in jieba.lcut(kw._EMOTICON.sub(" ", text)) if w.strip()]


@pytest.fixture
def clean_terms():
    yield
    kw._blocks.clear()
    kw._hmm.clear()


def test_feature_words_equal_jieba_lcut(clean_terms):
    assert kw._FUSED_OK  # jieba 0.42 is pinned: the fused cut is what runs
    texts = _texts(3000)
    kw._blocks.clear()
    kw._hmm.clear()
    for text in texts + texts[:500]:  # second pass: from the block cache
        assert kw.feature_words(text) == _jieba_words(text), text
    assert kw._blocks and kw._hmm  # both caches were used


def test_feature_words_follow_added_terms(clean_terms):
    texts = [t + "霁岚拾光真好用" + t[:3] for t in _texts(300, seed=4)]
    before = [kw.feature_words(t) for t in texts]
    assert kw.add_terms(["霁岚拾光", "曜石X9"]) == 2
    assert not kw._blocks  # cached cuts without the new words are gone
    after = [kw.feature_words(t) for t in texts]
    assert after == [_jieba_words(t) for t in texts]
    assert all("霁岚拾光" in w for w in after) and not any("霁岚拾光" in w for w in before)


def test_hmm_cut_equals_jieba_finalseg(monkeypatch):
    import jieba.finalseg as fs

    kw._jieba()
    assert kw._HMM_OK
    rng = random.Random(7)
    chars = "的一是了我不人在有这个上们来到时大地为子中你说生国年着就那和要她出也得里后" + "".join(
        chr(c) for c in range(0x4E00, 0x9FA5, 41)) + "ab12.%9X"
    runs = ["".join(rng.choice(chars) for _ in range(rng.randint(1, 14))) for _ in range(4000)]
    runs += ["呵呵呵", "的的", "12.5%好", "a", "好", "x好y"]
    assert [kw._hmm_cut(fs, r) for r in runs] == [list(fs.cut(r)) for r in runs]
    monkeypatch.setattr(fs, "Force_Split_Words", fs.Force_Split_Words | {"的的", "好"})
    assert [kw._hmm_cut(fs, r) for r in runs] == [list(fs.cut(r)) for r in runs]


def test_the_other_jieba_path_is_jieba_itself(monkeypatch):
    monkeypatch.setattr(kw, "_FUSED_OK", False)
    for text in _texts(50, seed=6):
        assert kw.feature_words(text) == _jieba_words(text)


@pytest.mark.skipif(not (BUNDLED / "tokenizer.json").exists(), reason="no bundled model")
def test_char_token_table_equals_the_bundled_tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(BUNDLED), local_files_only=True)
    table = CharTokenTable.for_tokenizer(tok)
    assert table is not None
    texts = _texts(2000, seed=8)
    texts += [normalise(t) for t in texts[:500]]
    texts += ["[MASK]好", "[mask] 差", "a[CLS]b", "[UNK]", "[怒][PAD]", "x\u2028y", "a\x1cb\x1fc", "\u200bz", "\u0085q",
              "ǅ", "ΣΑΣ ΟΣ", "好\r\n评", "[SEP"]
    want = tok(texts, add_special_tokens=False)["input_ids"]
    assert table.encode(texts) == [list(w) for w in want]


def test_char_token_table_only_for_per_character_tokenizers(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel(vocab={"[UNK]": 0, "好": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()  # whole words, not characters
    assert CharTokenTable.for_tokenizer(PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")) is None


@pytest.mark.skipif(not (BUNDLED / "config.json").exists(), reason="no bundled model")
def test_forward_pads_exactly_as_before():
    """The padded batch is built in numpy now: the same ids, mask and so the same probabilities as
    the tensor-per-row build it replaced (kept here as the reference)."""
    import numpy as np
    import torch

    from nlp.sentiment import SentimentPipeline

    pipe = SentimentPipeline.load("bundled", threads=1, batch_size=64)
    texts = [normalise(t) for t in _texts(300, seed=12)] + ["", "好" * 400]
    encoded = pipe.preprocess(texts, normalised=True)

    want = np.zeros((len(texts), len(pipe.class_labels)), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(encoded.ids[i]))
    with torch.inference_mode():
        for start in range(0, len(texts), pipe.batch_size):
            idx = order[start:start + pipe.batch_size]
            width = max(len(encoded.ids[i]) for i in idx)
            ids = torch.full((len(idx), width), pipe.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : len(encoded.ids[i])] = torch.tensor(encoded.ids[i], dtype=torch.long)
                mask[row, : len(encoded.ids[i])] = 1
            if pipe._autocast is not None:
                with torch.autocast("cpu", dtype=pipe._autocast):
                    logits = pipe.model(input_ids=ids, attention_mask=mask).logits
            else:
                logits = pipe.model(input_ids=ids, attention_mask=mask).logits
            want[idx] = torch.softmax(logits.float(), dim=-1).numpy()
    np.testing.assert_array_equal(pipe.forward(encoded), want)
