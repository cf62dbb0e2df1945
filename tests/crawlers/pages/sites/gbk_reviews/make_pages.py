from pathlib import Path

OUT = Path(__file__).resolve().parent
HEAD = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />
<title>小米14 点评 - 手机口碑 - 第{page}页</title>
<link rel="stylesheet" href="//icon.example-kb.com/css/review.css" />
</head><body>
<div class="wrapper"><div class="product-head"><h1>小米14 用户点评</h1><span class="total">共 5 条点评</span></div>
<div class="review-list">
"""
FOOT = """</div>{pager}
</div><script type="text/javascript">var pageInfo = {{productId: 2061234, page: {page}}};</script></body></html>
"""
def item(rid, uid, user, city, star, title, pros, cons, when, useful, replies):
    content = (f'<p><strong>优点：</strong>{pros}</p>' if pros else "") + (f'<p><strong>缺点：</strong>{cons}</p>' if cons else "")
    return f"""<div class="review-item" data-review-id="{rid}">
  <div class="review-user"><a href="/user/{uid}.html" class="user-name" target="_blank">{user}</a><span class="user-city">来自 {city}</span></div>
  <div class="review-score"><span class="star star-{star}" title="{star}分"></span></div>
  <h4 class="review-title"><a href="/review/{rid}.html">{title}</a></h4>
  <div class="review-content">{content or '<p class="empty">此用户没有填写评价内容</p>'}<a class="more" href="/review/{rid}.html">查看全文&gt;&gt;</a></div>
  <div class="review-meta"><span class="review-time">{when}</span><a class="useful" href="javascript:;">有用(<em>{useful}</em>)</a><a class="reply-count" href="/review/{rid}.html#reply">回复(<em>{replies}</em>)</a></div>
</div>
"""
def page(n, items, nxt):
    pager = '<div class="page">' + (f'<a class="next" href="/product/2061234/reviews_{n + 1}.html">下一页</a>' if nxt else "") + "</div>"
    html = HEAD.format(page=n) + "".join(items) + FOOT.format(pager=pager, page=n)
    (OUT / f"reviews_{n}.html").write_bytes(html.encode("gbk"))
page(1, [
    item(880001, 3301, "老李", "江苏", 4, "续航不错，屏幕一般", "续航一天半，充电快", "屏幕偏黄", "2024/08/01 12:30", 23, 2),
    item(880002, 3302, "數碼迷", "香港", 2, "售后体验很差", "", "寄修两周，客服态度冷淡，螢幕還有划痕", "2024/07/30 09:05", 41, 7),
    item(880003, 3303, "匿名用户", "广东", 5, "好评", "", "", "2024/07/29 20:00", 0, 0),
], True)
page(2, [
    item(870010, 3310, "小明", "北京", 3, "中规中矩", "拍照清晰", "发热明显", "2024/06/01 08:00", 5, 1),
    item(870011, 3311, "阿珍", "上海", 1, "用一个月就黑屏", "", "黑屏送修，理由是进水，拒绝保修", "2024/05/28 18:45", 88, 12),
], False)
(OUT / "reviews_3.html").write_bytes((HEAD.format(page=3) + '<p class="no-data">暂无点评</p>' + FOOT.format(pager="", page=3)).encode("gbk"))
(OUT / "busy.html").write_bytes('<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk" /></head><body><div class="tips">您的访问过于频繁，请稍后再试</div></body></html>'.encode("gbk"))
print(sorted(p.name for p in OUT.iterdir()))
