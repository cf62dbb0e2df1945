from nlp.normalise import normalise, split_sentences, strip_emoticons, to_simplified


def test_html_leftovers_removed_and_entities_decoded():
    assert normalise("<p>质量&nbsp;很好</p><br/>物流&amp;快") == "质量 很好 物流&快"
    assert normalise("&amp;lt;b&amp;gt;好评&amp;lt;/b&amp;gt;") == "好评"
    assert normalise("<script>var a=1;</script>不错") == "不错"


def test_full_width_becomes_half_width():
    assert normalise("ＡＢＣ１２３，好！") == "ABC123,好!"
    assert normalise("价格　便宜") == "价格 便宜"


def test_traditional_becomes_simplified():
    assert normalise("這個產品質量很好，物流也很快") == "这个产品质量很好,物流也很快"
    assert to_simplified("简体不变") == "简体不变"


def test_emoticon_alt_text_kept_and_unicode_emoji_mapped():
    assert normalise("气死了[怒][怒]") == "气死了[怒][怒]"
    assert normalise("太棒了👍") == "太棒了[赞]"
    assert normalise("😡😡") == "[怒][怒]"


def test_urls_and_mentions_removed_but_text_kept():
    out = normalise("快看 http://t.cn/A6abc 这个 @小米公司 的新品//@张三:真不错 www.example.com/x")
    assert "http" not in out and "www" not in out and "@" not in out and "小米公司" not in out
    assert "这个" in out and "的新品" in out and "真不错" in out


def test_weibo_topic_wrapper_keeps_words():
    assert normalise("{%#静下心来听音乐#%}今天很开心") == "#静下心来听音乐# 今天很开心"


def test_repeated_characters_bounded():
    assert normalise("好好好好好好好好") == "好好好"
    assert normalise("太差了!!!!!!!") == "太差了!!!"
    assert normalise("哈哈哈") == "哈哈哈"


def test_idempotent_and_safe_on_empty():
    text = "<b>這個</b> ＡＰＰ 太卡了！！！！ http://x.cn @客服 [怒]"
    once = normalise(text)
    assert normalise(once) == once
    assert normalise(None) == "" and normalise("") == "" and normalise("   ") == ""


def test_strip_emoticons_and_sentences():
    assert strip_emoticons("开心[哈哈][爱你]好") == "开心 好"
    assert split_sentences("物流很快。质量不好!客服呢?") == ["物流很快。", "质量不好!", "客服呢?"]
