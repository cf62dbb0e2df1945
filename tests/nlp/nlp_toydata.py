"""Toy data shared by the NLP tests (imported by basename: test folders have no __init__)."""

POSITIVE = ["质量很好，很喜欢", "物流很快，非常满意", "好评，推荐购买", "服务热情，味道好吃", "性价比高，超值",
            "非常好用，五星好评", "客服态度很好", "外观漂亮，动力强"]
NEGATIVE = ["质量太差了，垃圾", "物流太慢，很失望", "差评，不要买", "服务态度恶劣，难吃", "太贵了，不值",
            "用了两天就坏了", "客服不理人，退货麻烦", "油耗高，噪音大"]
NEUTRAL = ["今天是星期三", "请问这款有黑色吗", "明天下午三点开会", "这个型号是去年出的", "地址在人民路",
           "周末去北京出差", "发布会在上海举行", "这款车有两个版本"]


def toy_rows():
    texts = POSITIVE + NEGATIVE + NEUTRAL
    labels = ["positive"] * len(POSITIVE) + ["negative"] * len(NEGATIVE) + ["neutral"] * len(NEUTRAL)
    return texts * 3, labels * 3
