"""Dianping fixtures: review pages whose text is SVG-sprite obfuscated, the svgtextcss CSS and two sprites."""
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent
random.seed(7)
SHOP = "H2noKWCDigM0H9c1"
CSS_PATH = "/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss/8c4f0e2a9b3d.css"
SVG_A = "/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss/5e1b7f3c.svg"   # <text x= y=> rows
SVG_B = "/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss/9d2a6c40.svg"   # <textPath> rows
FS = 14
A_CHARS = "服务很热情排队小时毛肚新鲜就是有点贵上菜太慢等四十分钟员态度也不好"
B_CHARS = "环境干净推荐味道一般性价比高锅底辣适中下次还来"
FILL = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞"
def rows_for(chars, width=30):
    pool = list(dict.fromkeys(chars + FILL))
    need = list(dict.fromkeys(chars))
    rest = [c for c in pool if c not in need]
    random.shuffle(rest)
    allc = need + rest[: max(0, width * 6 - len(need))]
    random.shuffle(allc)
    return ["".join(allc[i:i + width]) for i in range(0, len(allc), width)]
rows_a = rows_for(A_CHARS)
rows_b = rows_for(B_CHARS)
ys = [41 + 42 * i for i in range(len(rows_a))]
svg_a = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
         f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" xmlns:xlink="http://www.w3.org/1999/xlink" width="650px" height="{ys[-1] + 20}px">',
         '<style>text {font-family:PingFangSC-Regular,Microsoft YaHei,\'Hiragino Sans GB\',Helvetica;font-size:14px;fill:#333;}</style>']
for y, row in zip(ys, rows_a, strict=False):
    xs = " ".join(str(FS * i) for i in range(len(row)))
    svg_a.append(f'<text x="{xs}" y="{y}">{row}</text>')
svg_a.append("</svg>")
(OUT / "sprite_a.svg").write_text("\n".join(svg_a), encoding="utf-8")
ys_b = [38 + 40 * i for i in range(len(rows_b))]
svg_b = ['<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
         f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" xmlns:xlink="http://www.w3.org/1999/xlink" width="650px" height="{ys_b[-1] + 20}px">',
         '<style>text {font-family:PingFangSC-Regular,Microsoft YaHei,\'Hiragino Sans GB\',Helvetica;font-size:14px;fill:#333;}</style>', "<defs>"]
for i, y in enumerate(ys_b):
    svg_b.append(f'<path id="{i + 1}" d="M0 {y} H600"/>')
svg_b.append("</defs>")
for i, row in enumerate(rows_b):
    svg_b.append(f'<text lengthAdjust="spacing"><textPath xlink:href="#{i + 1}" textLength="{FS * len(row)}">{row}</textPath></text>')
svg_b.append("</svg>")
(OUT / "sprite_b.svg").write_text("\n".join(svg_b), encoding="utf-8")

classes = {}
css = [f'svgmtsi[class^="xy"]{{width:14px;height:30px;margin-top:-9px;background-image: url(//s3plus.meituan.net{SVG_A});background-repeat: no-repeat;display: inline-block;vertical-align: middle;margin-left:-6px\\9;}}',
       f'svgmtsi[class^="qa"]{{width:14px;height:30px;margin-top:-9px;background-image: url(//s3plus.meituan.net{SVG_B});background-repeat: no-repeat;display: inline-block;vertical-align: middle;margin-left:-6px\\9;}}']
def cls_for(ch):
    if ch in classes:
        return classes[ch]
    for prefix, rows, yl, top in (("qa", rows_b, ys_b, 20), ("xy", rows_a, ys, 23)):
        if (prefix == "qa" and ch in B_CHARS) or (prefix == "xy" and ch in A_CHARS):
            for r, row in enumerate(rows):
                if ch in row:
                    name = prefix + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3))
                    while name in classes.values():
                        name = prefix + "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(3))
                    classes[ch] = name
                    css.append(f".{name}{{background:-{FS * row.index(ch)}.0px -{yl[r] - top}.0px;}}")
                    return name
    return None
def obf(text):
    out = []
    for ch in text:
        c = cls_for(ch)
        out.append(f'<svgmtsi class="{c}"></svgmtsi>' if c else ch)
    return "".join(out)

def review(rid, uid, user, star, scores, text, time, likes, replies, reply=None, pics=0, extra_text=""):
    score_html = "".join(f'<span class="item">{k}：{v}</span>\n' for k, v in scores)
    pic_html = "".join(f'<li class="item"><a target="_blank" rel="nofollow" href="/photos/{rid}{i}"><img class="" data-big="https://qcloud.dpfile.com/pc/{i}.jpg" src="https://qcloud.dpfile.com/pc/{i}_t.jpg" data-lazyload="https://qcloud.dpfile.com/pc/{i}_t.jpg" alt="" width="120" height="120"></a></li>' for i in range(pics))
    reply_html = f'<div class="shop-reply"><div class="shop-reply-title">商户回复<span class="date">2024-05-02</span></div><p class="shop-reply-content Hide">{reply}</p></div>' if reply else ""
    return f"""<li>
<a class="dper-photo-aside" data-user-id="{uid}" target="_blank" rel="nofollow" href="/member/{uid}" data-click-name="用户头像"><img data-lazyload="https://p0.meituan.net/userheadpicbackend/{uid}.jpg%4048w_48h_1e_1c_1l%7Cwatermark%3D0" src="https://www.dpfile.com/app/pc-common/img/default.png"></a>
<div class="main-review">
<div class="dper-info"><a class="name" target="_blank" rel="nofollow" href="/member/{uid}" data-click-name="用户名">
        {user}
      </a><img class="user-rank-rst urr-rank40" src="https://www.dpfile.com/sc/eleconfig/20210716192034contributor.png"></div>
<div class="review-rank">
<span class="sml-rank-stars sml-str{star} star"></span>
<span class="score">
{score_html}</span>
</div>
<div class="review-truncated-words">{obf(text[:20])}...<div class="more-words"><a class="unfold" href="javascript:;" data-click-name="展开评价">展开评价<i class="icon"></i></a></div></div>
<div class="review-words Hide">
{obf(text)}{extra_text}
<div class="less-words"><a class="fold" href="javascript:;" data-click-name="收起评价">收起评价<i class="icon"></i></a></div>
</div>
<div class="review-pictures"><ul>{pic_html}</ul></div>
<div class="misc-info clearfix">
<span class="time">{time}</span>
<span class="shop">海底捞火锅(五角场店)</span>
</div>
<div class="actions">
<a class="praise" href="javascript:;" data-id="{rid}" data-click-name="赞">赞</a><em class="col-exp">({likes})</em><a class="reply" href="javascript:;" data-id="{rid}" data-click-name="回应">回应</a><em class="col-exp">({replies})</em><a class="favor" href="javascript:;" data-id="{rid}" data-click-name="收藏">收藏</a><a class="report" href="javascript:;" data-id="{rid}" data-click-name="举报">举报</a>
</div>
{reply_html}
</div>
</li>"""

FONT_CSS_PATH = "/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss/f0a1b2c3d4e5.css"
FONT_PATH = "/v1/mss_73a511b8f91f43d0bdae92584ea6330b/font/7d3c9e1a.woff"
def page(n, reviews, pager):
    font_link = f'\n<link rel="stylesheet" type="text/css" href="//s3plus.meituan.net{FONT_CSS_PATH}">' if n == 2 else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>海底捞火锅(五角场店)的全部点评 - 上海美食 - 大众点评网</title>
<link rel="stylesheet" type="text/css" href="//www.dpfile.com/mod/app-main-review-all/0.0.30/css/review-all.css">
<link rel="stylesheet" type="text/css" href="//s3plus.meituan.net{CSS_PATH}">{font_link}
<script>window.rohrdata = ""; var pageConfig = {{"shopId":"{SHOP}","shopType":10,"cityId":1,"page":{n}}};</script>
</head><body class="review-all">
<div class="review-list-header"><h1 class="shop-name">海底捞火锅(五角场店)</h1></div>
<div class="reviews-tags"><div class="filter-good"><a href="javascript:;">好评<span class="count">(3201)</span></a></div><div class="filter-middle"><a href="javascript:;">中评<span class="count">(210)</span></a></div><div class="filter-bad"><a href="javascript:;">差评<span class="count">(98)</span></a></div><div class="filter-pic"><a href="javascript:;">图片<span class="count">(1500)</span></a></div></div>
<div class="review-list-main"><div class="reviews-wrapper"><div class="reviews-items"><ul>
{''.join(reviews)}
</ul></div>
<div class="bottom-area clearfix"><div class="reviews-pages">{pager}</div></div></div></div>
<script>document.querySelectorAll('.review-words').forEach(function(el){{el.setAttribute('data-rendered','1')}});</script>
</body></html>"""

p1 = [review("1234567890", "98765001", "吃货小王", 40, [("口味", "4.5"), ("环境", "4"), ("服务", "5"), ("人均", "88元")],
             "服务很热情，排队一个小时，毛肚新鲜，就是有点贵。", "2024-05-01 12:30", 12, 3, reply="感谢您的光临，期待再次为您服务！", pics=2),
      review("1234567891", "98765002", "路过的人", 20, [("口味", "3"), ("环境", "3"), ("服务", "1"), ("人均", "120元")],
             "上菜太慢了，等了四十分钟，服务员态度也不好。", "2024-04-28 19:02\n      更新于24-04-29 10:11", 0, 1),
      review("1234567892", "98765003", "Lily", 50, [("口味", "5"), ("环境", "5"), ("服务", "5")],
             "环境干净，推荐！锅底辣度适中，下次还来", "2024-04-20 18:00", 5, 0,
             extra_text='<img class="emoji-img" src="https://www.dpfile.com/ugc/emoji/e1.png" alt="">')]

FONT_MAP = {v: chr(int(k, 16)) for k, v in json.loads((OUT / "font_load_map.json").read_text(encoding="utf-8")).items()}
def font_obf(text, cls="review", tag="svgmtsi"):
    return "".join(f'<{tag} class="{cls}">&#x{ord(FONT_MAP[c]):x};</{tag}>' if c in FONT_MAP else c for c in text)
P2_TEXT = font_obf("味道一般，性价比不高。") + "店在" + font_obf("南京路", "address", "e") + font_obf("8", "num", "d") + font_obf("号") + "。"
p2 = [review("1234567893", "98765004", "老饕", 35, [("口味", "3.5"), ("环境", "4"), ("服务", "4"), ("人均", "95元")],
             "", "2023-12-31 23:59", 1, 0, extra_text=P2_TEXT)]
pager1 = f'<span class="PageSel">1</span><a href="/shop/{SHOP}/review_all/p2" data-pg="2" class="PageLink" title="2">2</a><a href="/shop/{SHOP}/review_all/p2" data-pg="2" class="NextPage" title="下一页">下一页</a>'
pager2 = f'<a href="/shop/{SHOP}/review_all" data-pg="1" class="PrevPage" title="上一页">上一页</a><a href="/shop/{SHOP}/review_all" data-pg="1" class="PageLink" title="1">1</a><span class="PageSel">2</span>'
(OUT / "review_all.html").write_text(page(1, p1, pager1), encoding="utf-8")
(OUT / "review_all_p2.html").write_text(page(2, p2, pager2), encoding="utf-8")
# A page served with a dead cookie: no svgtextcss link, a login prompt instead of reviews.
(OUT / "review_all_nocss.html").write_text("""<!DOCTYPE html><html><head><meta charset="utf-8"><title>大众点评网</title>
<link rel="stylesheet" type="text/css" href="//www.dpfile.com/mod/app-main-review-all/0.0.30/css/review-all.css"></head>
<body><div class="review-list-main"><div class="no-login"><p>登录后查看更多点评</p><a href="https://account.dianping.com/login">登录</a></div></div></body></html>""", encoding="utf-8")
(OUT / "verify.html").write_text("""<!DOCTYPE html><html><head><meta charset="utf-8"><title>验证中心</title></head>
<body><div id="app"><div class="yodaBox"><p>请依次点击图中的文字完成验证</p></div></div><script src="https://static.meituan.net/bs/yoda-static/file:file/d/js/yoda.min.js"></script></body></html>""", encoding="utf-8")
(OUT / "review_svgtextcss.css").write_text("\n".join(css), encoding="utf-8")
(OUT / "review_font.css").write_text(
    '@font-face{{font-family: "PingFangSC-Regular-review";src:url("//s3plus.meituan.net{}");'
    'src:url("//s3plus.meituan.net{}?#iefix") format("embedded-opentype"),url("//s3plus.meituan.net{}");}}\n'
    '.review, e.address, d.num{{font-family: \'PingFangSC-Regular-review\';}}\n'.format(FONT_PATH.replace(".woff", ".eot"), FONT_PATH.replace(".woff", ".eot"), FONT_PATH), encoding="utf-8")
(OUT / "paths.txt").write_text(f"css {CSS_PATH}\nsvg_a {SVG_A}\nsvg_b {SVG_B}\nfont_css {FONT_CSS_PATH}\nfont {FONT_PATH}\nshop {SHOP}\n", encoding="utf-8")
print(len(classes), "obfuscated characters")
