"""One text normalisation, used by training and inference alike.

`normalise()` turns scraped text (leftover HTML, full-width forms, traditional characters, URLs,
@mentions, emoji, "好好好好好好") into the form every model in this package was trained on.
Weibo emoticon alt text such as `[怒]` is kept: it carries sentiment.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

MAX_REPEAT = 3  # "好好好好好好" -> "好好好": keeps the emphasis, drops the length

_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_BREAK_TAGS = re.compile(r"<\s*(br|/p|/div|/li|p|div|li)\b[^>]*>", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,500}>")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_URL = re.compile(r"(?:https?://|www\.)[\w\-._~:/?#\[\]@!$&'()*+,;=%]+", re.I)
# Weibo repost chains "//@name:" and inline mentions "@name " (names stop at space/punctuation).
_REPOST = re.compile(r"//\s*@[^\s:：,，。!！?？]{1,30}\s*[:：]?")
_AT = re.compile(r"@[^\s:：,，。!！?？@\[\]【】()（）]{1,30}[:：]?")
# weibo2018 writes topics/locations/links as {%...%}; keep the words, drop the wrapper.
_WEIBO_WRAPPER = re.compile(r"\{%(.*?)%\}")
_REPEAT = re.compile(r"(.)\1{" + str(MAX_REPEAT) + ",}", re.S)
_REPEAT_PUNCT_RUN = re.compile(r"([!?~.。，,…])\1{" + str(MAX_REPEAT) + ",}")
_WS = re.compile(r"\s+")
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff]")
_EMOTICON = re.compile(r"\[[^\[\]\s]{1,8}\]")

# Common Unicode emoji -> the Weibo alt text with the same meaning, so both forms look alike.
EMOJI_ALT: dict[str, str] = {
    "😂": "[笑cry]", "🤣": "[笑cry]", "😀": "[哈哈]", "😄": "[哈哈]", "😁": "[嘻嘻]", "😆": "[哈哈]",
    "😊": "[微笑]", "🙂": "[微笑]", "😍": "[色]", "🥰": "[爱你]", "😘": "[亲亲]", "❤": "[心]",
    "❤️": "[心]", "💕": "[心]", "💔": "[伤心]", "👍": "[赞]", "👏": "[鼓掌]", "🙏": "[祈祷]",
    "💪": "[加油]", "🎉": "[庆祝]", "😭": "[泪]", "😢": "[泪]", "😿": "[泪]", "😞": "[失望]",
    "😔": "[失望]", "😡": "[怒]", "😠": "[怒]", "🤬": "[怒骂]", "😤": "[哼]", "🙄": "[白眼]",
    "😒": "[不屑]", "👎": "[弱]", "🤮": "[吐]", "🤢": "[吐]", "😱": "[吃惊]", "😨": "[害怕]",
    "😰": "[害怕]", "😓": "[汗]", "😅": "[汗]", "🤔": "[思考]", "😷": "[口罩]", "😴": "[困]",
    "🐶": "[doge]", "😏": "[坏笑]", "🌹": "[鲜花]", "🔥": "[火]",
}
_EMOJI = re.compile("|".join(sorted(map(re.escape, EMOJI_ALT), key=len, reverse=True)))


@lru_cache(maxsize=1)
def _t2s():
    """The OpenCC traditional->simplified converter and a fast 'any traditional char?' test.

    The pure-Python converter costs ~0.1 ms per text, so it only runs on texts that contain at least
    one character that OpenCC would change.
    """
    import opencc

    converter = opencc.OpenCC("t2s")
    table = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
    chars: set[str] = set()
    for line in table.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and parts[1].split(" ")[0] != parts[0]:
            chars.add(parts[0])
    pattern = re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
    return converter, pattern


def to_simplified(text: str) -> str:
    converter, traditional = _t2s()
    if traditional.search(text) is None:
        return text
    return converter.convert(text)


def strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    # Double-escaped entities ("&amp;lt;br&amp;gt;") are common in scraped JSON.
    for _ in range(2):
        if "&" not in text:
            break
        text = html.unescape(text)
    if "<" in text:
        text = _HTML_COMMENT.sub(" ", text)
        text = _SCRIPT_STYLE.sub(" ", text)
        text = _BREAK_TAGS.sub(" ", text)
        text = _TAG.sub("", text)
    return text


def normalise(text: str | None) -> str:
    """Return the canonical form of one text (never raises on odd input; None -> "")."""
    if not text:
        return ""
    text = strip_html(str(text))
    text = _EMOJI.sub(lambda m: EMOJI_ALT[m.group(0)], text)
    # NFKC folds full-width ASCII/punctuation to half-width and compatibility ideographs to the real ones.
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    text = _WEIBO_WRAPPER.sub(r" \1 ", text)
    text = _URL.sub(" ", text)
    text = _REPOST.sub(" ", text)
    text = _AT.sub(" ", text)
    text = to_simplified(text)
    text = _REPEAT_PUNCT_RUN.sub(lambda m: m.group(1) * MAX_REPEAT, text)
    text = _REPEAT.sub(lambda m: m.group(1) * MAX_REPEAT, text)
    return _WS.sub(" ", text).strip()


def strip_emoticons(text: str) -> str:
    """Remove `[xx]` emoticon alt text (used only for weibo_senti_100k, whose labels came from them)."""
    return _WS.sub(" ", _EMOTICON.sub(" ", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Split into sentences/clauses for touchpoint matching (keeps the punctuation with its sentence)."""
    parts = re.split(r"(?<=[。！？!?；;\n])|(?<=[.](?=\s))", text)
    return [p.strip() for p in parts if p and p.strip()]
