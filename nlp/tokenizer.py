"""The bundled model's character-level tokenizer, built with `tokenizers`.

Chinese sentiment lives in single characters (好/差/慢), so every character is one token; the
vocabulary is the most frequent characters of the training text. Saved as a standard
`PreTrainedTokenizerFast` (tokenizer.json), so `AutoTokenizer` loads it like any other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_char_tokenizer(texts: Iterable[str], *, vocab_size: int = 6000, min_count: int = 2,
                         model_max_length: int = 128):
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text.lower())
    chars = [c for c, n in counts.most_common() if n >= min_count and not c.isspace()]
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for c in chars[: vocab_size - len(SPECIALS)]:
        vocab[c] = len(vocab)

    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    # Drop whitespace, then isolate every remaining character as its own token.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=model_max_length,
    )
