"""Render the replay world in each site's real format (see /work/shared/docs/site-formats.md §3).

Formats follow the saved fixtures in tests/crawlers/pages/<site>/ that the spiders are tested on:
m.weibo.cn JSON, s.weibo.com HTML, Tieba HTML with the BigPipe comment, Discuz! GBK pages, JD JSONP
in GBK and Dianping HTML whose review text is obfuscated with an SVG text sprite.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime
from urllib.parse import quote

from core.mention import SHANGHAI
from ops.replay.content import Item, Thread

WEIBO_PAGE = 10
TIEBA_LIST_PAGE = 50
TIEBA_FLOORS_PAGE = 30
JD_PAGE = 10
DIANPING_PAGE = 10
DISCUZ_LIST_PAGE = 20
DISCUZ_POSTS_PAGE = 10

_EMOJI = re.compile(r"\[([\u4e00-\u9fa5a-z]{1,4})\]")
_TOPIC = re.compile(r"#([^#]{1,30})#")


def sh(dt: datetime) -> datetime:
    return dt.astimezone(SHANGHAI)


def pages(items: list, size: int) -> int:
    return max(1, -(-len(items) // size))


def page_of(items: list, page: int, size: int) -> list:
    """1-based page."""
    return items[(page - 1) * size: page * size]


# ---- m.weibo.cn ----------------------------------------------------------------------------------

def weibo_html_text(text: str) -> str:
    """Plain text -> the HTML m.weibo.cn sends: emoji images with alt text, topic links."""
    out = html.escape(text, quote=False)
    out = _TOPIC.sub(
        lambda m: f'<a href="https://m.weibo.cn/search?containerid=231522type%3D1%26t%3D10%26q%3D%23'
                  f'{quote(m.group(1))}%23" data-hide=""><span class="surl-text">#{m.group(1)}#</span></a>',
        out)
    return _EMOJI.sub(
        lambda m: f'<span class="url-icon"><img alt=[{m.group(1)}] src="//h5.sinaimg.cn/m/emoticon/icon/default/'
                  f'd_{abs(hash(m.group(1))) % 10000}.png" style="width:1em; height:1em;" /></span>', out)


def weibo_created_at(dt: datetime) -> str:
    return sh(dt).strftime("%a %b %d %H:%M:%S +0800 %Y")


def _followers(n: int) -> int | str:
    # the API sends large counts as strings like "36.2万"
    return f"{n / 10000:.1f}万" if n >= 10000 else n


def mblog(p: Item, full: bool = False) -> dict:
    long = bool(p.extra.get("long"))
    text = p.text
    if long and not full:
        text = text[:60] + f'...<a href="/status/{p.native_id}">全文</a>'
        html_text = weibo_html_text(p.text[:60]) + f'...<a href="/status/{p.native_id}">全文</a>'
    else:
        html_text = weibo_html_text(text)
    u = p.author
    return {
        "visible": {"type": 0, "list_id": 0},
        "created_at": weibo_created_at(p.published),
        "id": p.native_id, "idstr": p.native_id, "mid": p.native_id, "bid": p.extra.get("bid", ""),
        "can_edit": False, "show_additional_indication": 0,
        "text": html_text, "textLength": len(p.text) * 2, "source": p.extra.get("source", ""),
        "favorited": False, "pic_ids": [], "pic_num": 0, "is_paid": False, "mblog_vip_type": 0,
        "user": {
            "id": u.uid, "screen_name": u.name,
            "profile_image_url": f"https://tvax1.sinaimg.cn/crop.0.0.180.180.180/{u.uid}.jpg",
            "profile_url": f"https://m.weibo.cn/u/{u.uid}?uid={u.uid}", "statuses_count": 321,
            "verified": u.verified, "verified_type": 0 if u.verified else -1,
            "verified_reason": "数码博主" if u.verified else "", "description": "", "gender": "f",
            "mbtype": 0, "urank": 12, "mbrank": 0, "follow_count": 233,
            "followers_count": _followers(u.followers), "followers_count_str": str(u.followers),
        },
        "reposts_count": p.reposts, "comments_count": p.comments, "attitudes_count": p.likes,
        "pending_approval_count": 0, "isLongText": long, "reward_exhibition_type": 0, "hide_flag": 0,
        "mblogtype": 0, "more_info_type": 0, "content_auth": 0, "region_name": f"发布于 {p.extra.get('region', '上海')}",
        "region_opt": 1, "edit_count": 0,
    }


def weibo_getindex(posts: list[Item], keyword: str, page: int) -> dict:
    total = len(posts)
    chunk = page_of(posts, page, WEIBO_PAGE)
    if not chunk:
        return {"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}
    container = f"100103type=1&q={keyword}"
    cards: list[dict] = []
    if page == 1:
        # a header card and a user card: not posts, spiders skip them
        cards.append({"card_type": 42, "card_type_name": "", "show_type": 0,
                      "desc": f"综合 {keyword} 的结果", "itemid": "seqid:1"})
        cards.append({"card_type": 11, "show_type": 0, "card_group": [
            {"card_type": 30, "user": {"id": 1, "screen_name": f"{keyword}官方"}, "itemid": "user"}]})
    group = [{"card_type": 9, "itemid": f"seqid:{p.native_id}", "scheme":
              f"https://m.weibo.cn/status/{p.extra.get('bid')}?mblogid={p.extra.get('bid')}", "mblog": mblog(p)}
             for p in chunk[:-1]]
    if group:
        cards.append({"card_type": 11, "show_type": 1, "card_group": group})
    last = chunk[-1]
    # one flat card whose card_type is a string, as some containers send it
    cards.append({"card_type": "9", "itemid": f"seqid:{last.native_id}",
                  "scheme": f"https://m.weibo.cn/status/{last.extra.get('bid')}", "mblog": mblog(last)})
    return {"ok": 1, "data": {
        "cardlistInfo": {"containerid": container, "v_p": 42, "show_style": 1, "total": total, "page": page + 1
                         if page * WEIBO_PAGE < total else None, "since_id": None},
        "cards": cards, "scheme": ""}}


def weibo_detail(p: Item) -> str:
    status = mblog(p, full=True)
    data = json.dumps([{"status": status, "call": 1, "hotScheme": "", "appScheme": ""}], ensure_ascii=False)
    return (
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>微博</title></head><body>"
        "<div id=\"app\"></div><script>\n"
        f"var $render_data = {data}[0] || {{}};\n"
        "var __wb_performance_data={v:\"v7\"};\n</script></body></html>"
    )


def weibo_comments_empty() -> dict:
    return {"ok": 1, "data": {"data": [], "total_number": 0, "max_id": 0, "max_id_type": 0}}


# ---- s.weibo.com ---------------------------------------------------------------------------------

def weibo_relative_time(dt: datetime, now: datetime) -> str:
    dt, now = sh(dt), sh(now)
    delta = (now - dt).total_seconds()
    if delta < 60:
        return "刚刚"
    if delta < 3600:
        return f"{int(delta // 60)}分钟前"
    if dt.date() == now.date():
        return f"今天{dt:%H:%M}"
    if dt.year == now.year:
        return f"{dt.month:02d}月{dt.day:02d}日 {dt:%H:%M}"
    return f"{dt.year}年{dt.month:02d}月{dt.day:02d}日 {dt:%H:%M}"


def _s_weibo_text(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _TOPIC.sub(lambda m: f'<a href="//s.weibo.com/weibo?q=%23{quote(m.group(1))}%23" target="_blank">'
                               f'#{m.group(1)}#</a>', out)
    return _EMOJI.sub(lambda m: f'<img src="//face.t.sinajs.cn/t4/appstyle/expression/ext/normal/{len(m.group(1))}.png"'
                                f' title="[{m.group(1)}]" alt="[{m.group(1)}]" class="face" />', out)


def s_weibo_card(p: Item, now: datetime) -> str:
    u = p.author
    long = bool(p.extra.get("long"))
    short = _s_weibo_text(p.text[:60]) + ('<a href="javascript:void(0);" action-type="fl_unfold">展开<i class="wbicon">c</i></a>'
                                          if long else "")
    full = (f'<p class="txt" node-type="feed_list_content_full" nick-name="{u.name}" style="display: none">'
            f'{_s_weibo_text(p.text)}<a href="javascript:void(0);" action-type="fl_fold">收起全文<i class="wbicon">d</i></a></p>'
            if long else "")
    svg = '<svg class="woo_svg_vblue"><use xlink:href="#woo_svg_vblue"></use></svg>' if u.verified else ""
    bid = p.extra.get("bid", "")
    return f"""<div class="card-wrap" action-type="feed_list_item" mid="{p.native_id}">
<div class="card"><div class="card-feed">
<div class="avator"><a href="//weibo.com/{u.uid}?refer_flag=1001030103_" target="_blank"><img src="https://tvax1.sinaimg.cn/crop/{u.uid}.jpg" />{svg}</a></div>
<div class="content" node-type="like">
<div class="info"><div></div><div><a href="//weibo.com/{u.uid}?refer_flag=1001030103_" class="name" target="_blank" nick-name="{u.name}" suda-data="key=tblog_search_weibo">{u.name}</a></div></div>
<p class="txt" node-type="feed_list_content" nick-name="{u.name}">{short}</p>
{full}
<div class="from"><a href="//weibo.com/{u.uid}/{bid}?refer_flag=1001030103_" target="_blank" suda-data="key=tblog_search_weibo">{weibo_relative_time(p.published, now)}</a> 来自 <a href="//app.weibo.com/t/feed" rel="nofollow">{p.extra.get("source", "")}</a></div>
</div></div>
<div class="card-act"><ul>
<li><a href="javascript:void(0);" action-type="feed_list_forward"><i class="woo-font woo-font--retweet"></i> 转发 {p.reposts or ''}</a></li>
<li><a href="javascript:void(0);" action-type="feed_list_comment"><i class="woo-font woo-font--comment"></i> 评论 {p.comments or ''}</a></li>
<li><a href="javascript:void(0);" action-type="feed_list_like" title="赞"><button class="woo-like-main"><span class="woo-like-iconWrap"></span><span class="woo-like-count">{p.likes or '赞'}</span></button></a></li>
</ul></div>
</div></div>"""


def s_weibo_page(posts: list[Item], keyword: str, page: int, now: datetime) -> str:
    chunk = page_of(posts, page, WEIBO_PAGE)
    n = pages(posts, WEIBO_PAGE)
    if not chunk:
        body = ('<div class="card card-no-result s-pt20b40"><p>抱歉，未找到“' + html.escape(keyword)
                + '”相关结果。</p></div>')
        pager = ""
    else:
        body = "\n".join(s_weibo_card(p, now) for p in chunk)
        lis = "".join(f'<li><a href="/weibo?q={quote(keyword)}&page={i}">第{i}页</a></li>' for i in range(1, n + 1))
        nxt = f'<a class="next" href="/weibo?q={quote(keyword)}&page={page + 1}">下一页</a>' if page < n else ""
        pager = (f'<div class="m-page"><div><span class="list"><a href="javascript:void(0);" class="pagenum">'
                 f'第{page}页</a><ul class="s-scroll" node-type="feed_list_page_morelist">{lis}</ul></span>{nxt}</div></div>')
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(keyword)} - 微博搜索</title></head>
<body><div class="m-wrap"><div id="pl_feedlist_index"><div class="m-con-l">
{body}
{pager}
</div></div></div></body></html>"""


# ---- Baidu Tieba ---------------------------------------------------------------------------------

def _field(data: dict) -> str:
    """data-field attribute value: JSON with non-ASCII escaped, then HTML-entity-escaped."""
    return html.escape(json.dumps(data), quote=True)


def tieba_list_page(forum: str, threads: list[Thread], pn: int, now: datetime) -> str:
    page = pn // TIEBA_LIST_PAGE + 1
    chunk = page_of(threads, page, TIEBA_LIST_PAGE)
    lis = []
    for t in chunk:
        first = t.floors[0]
        df = {"id": int(t.tid), "author_name": first.author.name, "author_nickname": None,
              "author_portrait": f"tb.1.{first.author.uid:x}", "first_post_id": int(first.native_id),
              "reply_num": len(t.floors) - 1, "is_good": None, "is_top": None}
        last = sh(t.last_time)
        last_s = f"{last:%H:%M}" if last.date() == sh(now).date() else f"{last.month}-{last.day}"
        lis.append(f"""<li class=" j_thread_list clearfix thread_item_box" data-field='{_field(df)}' data-tid="{t.tid}" data-thread-type="0">
  <div class="t_con cleafix"><div class="col2_left j_threadlist_li_left"><span class="threadlist_rep_num center_text" title="回复">{len(t.floors) - 1}</span></div>
  <div class="col2_right j_threadlist_li_right "><div class="threadlist_lz clearfix"><div class="threadlist_title pull_left j_th_tit ">
    <a rel="noreferrer" href="/p/{t.tid}" title="{html.escape(t.title)}" target="_blank" class="j_th_tit ">{html.escape(t.title)}</a>
  </div><div class="threadlist_author pull_right"><span class="tb_icon_author " title="主题作者: {html.escape(first.author.name)}"><span class="frs-author-name-wrap"><a rel="noreferrer" class="frs-author-name j_user_card " href="/home/main/?id=tb.1.{first.author.uid:x}&amp;fr=frs" target="_blank">{html.escape(first.author.name)}</a></span></span></div></div>
  <div class="threadlist_detail clearfix"><div class="threadlist_text pull_left"><div class="threadlist_abs threadlist_abs_onlyline ">{html.escape(first.text[:40])}</div></div>
  <div class="threadlist_author pull_right"><span class="threadlist_reply_date pull_right j_reply_data" title="最后回复时间">{last_s}</span></div></div></div></div>
</li>""")
    n = pages(threads, TIEBA_LIST_PAGE)
    kw = quote(forum)
    nav = []
    if page > 1:
        nav.append(f'<a href="//tieba.baidu.com/f?kw={kw}&amp;ie=utf-8&amp;pn={(page - 2) * 50}" class="pre pagination-item " >&lt;上一页</a>')
    nav.append(f'<span class="pagination-current pagination-item ">{page}</span>')
    if page < n:
        nav.append(f'<a href="//tieba.baidu.com/f?kw={kw}&amp;ie=utf-8&amp;pn={page * 50}" class="next pagination-item " >下一页&gt;</a>')
        nav.append(f'<a href="//tieba.baidu.com/f?kw={kw}&amp;ie=utf-8&amp;pn={(n - 1) * 50}" class="last pagination-item " >尾页</a>')
    items = "\n".join(lis)
    return f"""<!DOCTYPE html><!--STATUS OK--><html><head><meta charset="UTF-8"><title>{html.escape(forum)}吧-百度贴吧</title>
<script>var PageData = {{"tbs":"7e1d5c8f1a2e3b4c1763000000","charset":"UTF-8","user":{{"is_login":0}}}};</script>
</head><body>
<div id="head"><div class="card_title"><a class="card_title_fname" href="/f?kw={kw}&amp;ie=utf-8">{html.escape(forum)}吧</a></div></div>
<div id="content_wrap">
<div id="pagelet_frs-list/pagelet/thread_list" class="pagelet"></div>
<code class="pagelet_html" id="pagelet_html_frs-list/pagelet/thread_list" style="display:none;"><!--
<div id="content_leftList" class="content_leftList clearfix"><div class="threadlist_bright j_threadlist_bright">
<ul id="thread_top_list" class="thread_top_list"></ul>
<ul id="thread_list" class="threadlist_bright j_threadlist_bright">
{items}
</ul>
<div class="thread_list_bottom clearfix"><div id="frs_list_pager" class="pagination-default clearfix">{''.join(nav)}</div></div>
</div></div>
--></code>
</div></body></html>"""


def tieba_thread_page(forum: str, t: Thread, pn: int) -> str:
    n = pages(t.floors, TIEBA_FLOORS_PAGE)
    floors = page_of(t.floors, pn, TIEBA_FLOORS_PAGE)
    posts = []
    for i, f in enumerate(floors):
        no = (pn - 1) * TIEBA_FLOORS_PAGE + i + 1
        portrait = f"tb.1.{f.author.uid:x}"
        df = {"author": {"user_id": f.author.uid, "user_name": f.author.name, "props": None, "portrait": portrait,
                         "user_nickname": None},
              "content": {"post_id": int(f.native_id), "is_anonym": False, "forum_id": 77, "thread_id": int(t.tid),
                          "content": None, "post_no": no, "type": "0", "comment_num": 0, "is_fold": 0,
                          "props": None, "post_index": i, "pb_tpoint": None}}
        body = html.escape(f.text, quote=False)
        body = _EMOJI.sub(lambda m: '<img class="BDE_Smiley" width="30" height="30" changedsize="false" '
                                    'src="https://gsp0.baidu.com/tb/editor/images/client/image_emoticon25.png" >', body)
        posts.append(f"""<div class="l_post l_post_bright j_l_post clearfix  " data-pid="{f.native_id}" data-field='{_field(df)}'>
  <div class="d_author"><ul class="p_author"><li class="icon"><div class="icon_relative j_user_card"><a class="p_author_face" href="/home/main?id={portrait}&amp;fr=pb"><img username="{html.escape(f.author.name)}" class="" src="//gss0.bdstatic.com/sys/portrait/item/{portrait}"></a></div></li>
  <li class="d_name" data-field='{_field({"user_id": f.author.uid})}'><a alog-group="p_author" class="p_author_name j_user_card" href="/home/main?id={portrait}&amp;fr=pb" target="_blank">{html.escape(f.author.name)}</a></li></ul></div>
  <div class="d_post_content_main "><div class="p_content  "><cc>
  <div id="post_content_{f.native_id}" class="d_post_content j_d_post_content " style="display:;">            {body}</div><br></cc></div>
  <div class="core_reply j_lzl_wrapper"><div class="core_reply_tail clearfix"><div class="post-tail-wrap"><span>IP属地:{f.author.city}</span><span class="tail-info">来自Android客户端</span><span class="tail-info">{no}楼</span><span class="tail-info">{sh(f.published):%Y-%m-%d %H:%M}</span></div></div></div></div>
</div>""")
        if i == 0 and pn == 1:
            # an ad floor between the real ones: no data-pid, empty data-field
            posts.append('<div class="l_post l_post_bright j_l_post clearfix" data-field=\'{}\' ad-dom-img="true">'
                         '<div class="d_post_content_main">推广：好物推荐</div></div>')
    pager = "".join(
        f'<span class="tP">{i}</span>' if i == pn else f'<a href="/p/{t.tid}?pn={i}">{i}</a>' for i in range(1, n + 1))
    if pn < n:
        pager += f'<a href="/p/{t.tid}?pn={pn + 1}">下一页</a><a href="/p/{t.tid}?pn={n}">尾页</a>'
    title = html.escape(t.title)
    joined = "\n".join(posts)
    return f"""<!DOCTYPE html><!--STATUS OK--><html><head><meta charset="UTF-8"><meta name="keywords" content="百度贴吧,{html.escape(forum)},{title}"><title>{title}【{html.escape(forum)}吧】_百度贴吧</title>
<script>var PageData = {{"tbs":"7e1d5c8f1a2e3b4c1763000000","charset":"UTF-8","forum":{{"id":77,"name":"{html.escape(forum)}"}},"thread":{{"thread_id":{t.tid},"reply_num":{len(t.floors) - 1}}}}};</script></head><body>
<div class="wrap2"><div id="j_core_title_wrap" class="core_title_wrap_bright clearfix"><div class="core_title core_title_theme_bright"><h3 class="core_title_txt pull-left text-overflow  " title="{title}" style="width: 396px">{title}</h3></div>
<ul class="tbui_aside_float_bar"><li><a id="lzonly_cntn" href="/p/{t.tid}?see_lz=1" class="btn-sub btn-small">只看楼主</a></li></ul>
<div class="p_thread thread_theme_5" id="thread_theme_5"><div class="l_thread_info"><ul class="l_posts_num"><li class="l_pager pager_theme_4 pb_list_pager">{pager}</li>
<li class="l_reply_num" style="margin-left:8px" ><span class="red" style="margin-right:3px">{len(t.floors) - 1}</span>回复贴，共<span class="red">{n}</span>页</li></ul></div></div></div>
<div class="left_section"><div id="j_p_postlist" class="p_postlist" >
{joined}
</div></div></body></html>"""


# ---- JD ------------------------------------------------------------------------------------------

def jd_comments(product_id: str, reviews: list[Item], page0: int, callback: str = "fetchJSON_comment98") -> bytes:
    """JSONP in GBK; `page` is 0-based; `maxPage` tells the spider when to stop."""
    chunk = page_of(reviews, page0 + 1, JD_PAGE)
    scores = [r.rating or 5 for r in reviews]
    comments = []
    for r in chunk:
        comments.append({
            "id": int(r.native_id), "guid": f"g{r.native_id}", "content": html.escape(r.text, quote=False),
            "creationTime": f"{sh(r.published):%Y-%m-%d %H:%M:%S}", "isTop": False, "referenceId": product_id,
            "referenceName": "澜鲸X9 5G 12GB+256GB 深海蓝", "referenceTime": "2026-10-01 10:00:00",
            "score": r.rating, "replyCount": r.comments % 7, "usefulVoteCount": r.likes % 50,
            "uselessVoteCount": 0, "userImageUrl": "storage.360buyimg.com/i.imageUpload/x.jpg",
            "userLevelName": "PLUS会员", "userProvince": r.author.city,
            "nickname": r.author.name[0] + "***" + r.author.name[-1], "userClient": 4,
            "userClientShow": "来自京东Android客户端", "productColor": "深海蓝", "productSize": "12GB+256GB",
            "imageCount": 0, "images": [], "isMobile": True, "days": 12, "anonymousFlag": 1,
        })
    summary = {
        "skuId": int(product_id), "productId": int(product_id), "averageScore": round(sum(scores) / len(scores)),
        "commentCount": len(reviews), "commentCountStr": str(len(reviews)),
        "goodCount": sum(s >= 4 for s in scores), "goodCountStr": str(sum(s >= 4 for s in scores)),
        "goodRate": round(sum(s >= 4 for s in scores) / len(scores), 3), "goodRateShow": 90,
        "generalCount": sum(s == 3 for s in scores), "poorCount": sum(s <= 2 for s in scores),
        **{f"score{i}Count": scores.count(i) for i in range(1, 6)},
    }
    body = {"productAttr": None, "productCommentSummary": summary,
            "hotCommentTagStatistics": [{"id": "b7c1d2e3f4a5", "name": "电池发热", "count": 16, "rid": "1",
                                         "productId": int(product_id), "status": 0}],
            "jwotestProduct": "99", "maxPage": pages(reviews, JD_PAGE), "testId": "cmt", "score": 0,
            "soType": 5, "imageListCount": 0, "vTagStatistics": None, "csv": "comment,centerVTagSwitch",
            "comments": comments}
    text = f"{callback}({json.dumps(body, ensure_ascii=False, separators=(',', ':'))});"
    return text.encode("gbk", errors="replace")


# ---- Discuz! X (GBK) -----------------------------------------------------------------------------

_DZ_HEAD = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gbk" />
<title>{title} -  吃货联盟论坛 -  Powered by Discuz!</title>
<meta name="generator" content="Discuz! X3.4" />
<script type="text/javascript">var STYLEID = '1', STATICURL = 'static/', IMGDIR = 'static/image/common', VERHASH = 'T4p', charset = 'gbk', discuz_uid = '0', cookiepre = 'cH1_2132_', formhash = 'f00dcafe';</script>
</head>
<body id="nv_forum" class="{cls}">
<div id="hd"><div class="wp"><div class="hdc cl"><h2><a href="./" title="吃货联盟论坛"><img src="static/image/common/logo.png" alt="吃货联盟论坛" border="0" /></a></h2>
<div id="um"><p><a href="member.php?mod=logging&amp;action=login">登录</a> | <a href="member.php?mod=register">立即注册</a></p></div></div></div></div>
<div id="wp" class="wp">
"""
BOARD_NAME = "火锅美食"


def _dz_date(dt: datetime) -> str:
    d = sh(dt)
    return f"{d.year}-{d.month}-{d.day}"


def _dz_datetime(dt: datetime) -> str:
    d = sh(dt)
    return f"{d.year}-{d.month}-{d.day} {d:%H:%M}"


def discuz_forumdisplay(fid: str, threads: list[Thread], page: int) -> bytes:
    chunk = page_of(threads, page, DISCUZ_LIST_PAGE)
    n = pages(threads, DISCUZ_LIST_PAGE)
    bodies = []
    for t in chunk:
        first, last = t.floors[0], t.floors[-1]
        bodies.append(f"""<tbody id="normalthread_{t.tid}">
<tr>
<td class="icn"><a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;extra=page%3D{page}" title="有新回复 - 新窗口打开" target="_blank"><img src="static/image/common/folder_new.gif" /></a></td>
<th class="new">
<a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;extra=page%3D{page}" onclick="atarget(this)" class="s xst">{html.escape(t.title)}</a>
</th>
<td class="by">
<cite><a href="home.php?mod=space&amp;uid={first.author.uid % 100000}" c="1">{html.escape(first.author.name)}</a></cite>
<em><span>{_dz_date(first.published)}</span></em>
</td>
<td class="num"><a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;extra=page%3D{page}" class="xi2">{len(t.floors) - 1}</a><em>{first.likes * 7 + 31}</em></td>
<td class="by">
<cite><a href="home.php?mod=space&amp;username=x" c="1">{html.escape(last.author.name)}</a></cite>
<em><a href="forum.php?mod=redirect&amp;tid={t.tid}&amp;goto=lastpost#lastpost">{_dz_datetime(last.published)}</a></em>
</td>
</tr>
</tbody>""")
    pg = ""
    if n > 1:
        links = "".join(f"<strong>{i}</strong>" if i == page else
                        f'<a href="forum.php?mod=forumdisplay&amp;fid={fid}&amp;page={i}">{i}</a>' for i in range(1, n + 1))
        nxt = (f'<a href="forum.php?mod=forumdisplay&amp;fid={fid}&amp;page={page + 1}" class="nxt">下一页</a>'
               if page < n else "")
        pg = f'<div class="pg">{links}{nxt}</div>'
    joined = "\n".join(bodies) if bodies else '<tbody><tr><th colspan="5"><p class="emp">本版块或指定的范围内尚无主题</p></th></tr></tbody>'
    doc = _DZ_HEAD.format(title=BOARD_NAME, cls="pg_forumdisplay") + f"""<div id="pt" class="bm cl"><div class="z"><a href="./" class="nvhm" title="首页">吃货联盟论坛</a><em>&raquo;</em><a href="forum.php">论坛</a><em>&raquo;</em><a href="forum.php?mod=forumdisplay&amp;fid={fid}">{BOARD_NAME}</a></div></div>
<div class="boardnav"><div id="ct" class="wp cl">
<div id="pgt" class="bm bw0 pgs cl">{pg}</div>
<div id="threadlist" class="tl bm bmw"><div class="bm_c"><form method="post" autocomplete="off" name="moderate" id="moderate" action="forum.php?mod=topicadmin&amp;action=moderate&amp;fid={fid}&amp;infloat=yes&amp;nopost=yes">
<table summary="forum_{fid}" cellspacing="0" cellpadding="0" id="threadlisttableid">
<tbody id="separatorline" class="emptb"><tr class="ts"><td>&nbsp;</td><th>&nbsp;</th><td>&nbsp;</td><td>&nbsp;</td><td>&nbsp;</td></tr></tbody>
{joined}
</table></form></div></div>
<div class="bm bw0 pgs cl">{pg}</div>
</div></div></div></body></html>"""
    return doc.encode("gbk", errors="replace")


def discuz_viewthread(fid: str, t: Thread, page: int, now: datetime) -> bytes:
    n = pages(t.floors, DISCUZ_POSTS_PAGE)
    chunk = page_of(t.floors, page, DISCUZ_POSTS_PAGE)
    posts = []
    for i, f in enumerate(chunk):
        no = (page - 1) * DISCUZ_POSTS_PAGE + i + 1
        pid = f.native_id
        uid = f.author.uid % 100000
        age = sh(now) - sh(f.published)
        if age.days >= 1 or age.total_seconds() > 20 * 3600:
            when = f"发表于 {_dz_datetime(f.published)}"
        else:
            # recent posts show a relative time with the exact one in the title attribute
            rel = f"{int(age.total_seconds() // 3600)}&nbsp;小时前" if age.total_seconds() >= 3600 else \
                f"{max(1, int(age.total_seconds() // 60))}&nbsp;分钟前"
            when = f'发表于 <span title="{_dz_datetime(f.published)}">{rel}</span>'
        body = html.escape(f.text, quote=False)
        body = _EMOJI.sub(lambda m: '<img src="static/image/smiley/default/mad.gif" smilieid="9" border="0" alt="" />', body)
        posts.append(f"""<div id="post_{pid}" ><table id="pid{pid}" class="plhin" summary="pid{pid}" cellspacing="0" cellpadding="0">
<tr>
<td class="pls" rowspan="2">
<div id="favatar{pid}" class="pls favatar"><div class="pi"><div class="authi"><a href="home.php?mod=space&amp;uid={uid}" target="_blank" class="xw1">{html.escape(f.author.name)}</a></div></div>
<div class="avatar"><a href="home.php?mod=space&amp;uid={uid}" class="avtm" target="_blank"><img src="uc_server/avatar.php?uid={uid}&amp;size=middle" /></a></div></div>
</td>
<td class="plc">
<div class="pi">
<strong><a href="forum.php?mod=redirect&amp;goto=findpost&amp;ptid={t.tid}&amp;pid={pid}" id="postnum{pid}" onclick="setCopy(this.href, '帖子地址复制成功');return false;"><em>{no}</em><sup>#</sup></a></strong>
<div class="pti"><div class="pdbt"></div><div class="authi"><img class="authicn vm" id="authicon{pid}" src="static/image/common/online_member.gif" />
<em id="authorposton{pid}">{when}</em>
<span class="pipe">|</span><a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;page={page}&amp;authorid={uid}" rel="nofollow">只看该作者</a>
</div></div>
</div><div class="pct"><div class="pcb">
<div class="t_fsz">
<table cellspacing="0" cellpadding="0"><tr><td class="t_f" id="postmessage_{pid}">
{body}</td></tr></table>
</div>
<div id="comment_{pid}" class="cm"></div>
</div></div>
</td></tr>
<tr><td class="plc plm"></td></tr>
</table></div>""")
    pg = ""
    if n > 1:
        links = "".join(f"<strong>{i}</strong>" if i == page else
                        f'<a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;extra=page%3D1&amp;page={i}">{i}</a>'
                        for i in range(1, n + 1))
        nxt = (f'<a href="forum.php?mod=viewthread&amp;tid={t.tid}&amp;extra=page%3D1&amp;page={page + 1}" class="nxt">下一页</a>'
               if page < n else "")
        pg = f'<div class="pg">{links}{nxt}</div>'
    title = html.escape(t.title)
    joined = "\n".join(posts)
    doc = _DZ_HEAD.format(title=title, cls="pg_viewthread") + f"""<div id="pt" class="bm cl"><div class="z"><a href="./" class="nvhm" title="首页">吃货联盟论坛</a><em>&raquo;</em><a href="forum.php?mod=forumdisplay&amp;fid={fid}">{BOARD_NAME}</a><em>&rsaquo;</em><a href="forum.php?mod=viewthread&amp;tid={t.tid}">{title}</a></div></div>
<div id="ct" class="wp cl"><div id="pgt" class="pgs mbm cl ">{pg}</div>
<div id="postlist" class="pl bm">
<table cellspacing="0" cellpadding="0"><tr><td class="pls ptn pbn"><div class="hm ptn"><span class="xg1">查看:</span> <span class="xi1">{t.floors[0].likes * 7 + 31}</span><span class="pipe">|</span><span class="xg1">回复:</span> <span class="xi1">{len(t.floors) - 1}</span></div></td>
<td class="plc ptm pbn vwthd"><h1 class="ts">
<span id="thread_subject">{title}</span></h1></td></tr></table>
{joined}
</div>
<div class="pgs mtm mbm cl">{pg}</div>
</div></div></body></html>"""
    return doc.encode("gbk", errors="replace")


# ---- Dianping (SVG-sprite obfuscated text) -------------------------------------------------------

DP_CSS_DIR = "/v1/mss_0a06a471f9514fc79c981b5466f56b91/svgtextcss"
DP_FONT = 14
DP_ROW_H = 42
DP_ROW_CHARS = 30
_CJK = re.compile(r"[\u4e00-\u9fff]")


class DianpingSprite:
    """An SVG text sprite and the CSS classes that point into it, as the real site serves them.

    Each CJK character of a review is drawn by `<svgmtsi class="xyab1">`: the class's CSS rule
    `background:-Xpx -Ypx` selects column X/14 of the first sprite row whose y is below Y.
    """

    def __init__(self, texts: list[str], seed: int = 7, prefix: str = "xy", sprite_id: str = "5e1b7f3c",
                 css_id: str = "8c4f0e2a9b3d"):
        import random as _random

        rng = _random.Random(seed)
        chars = sorted({c for t in texts for c in t if _CJK.match(c)})
        rng.shuffle(chars)
        self.rows = [chars[i:i + DP_ROW_CHARS] for i in range(0, len(chars), DP_ROW_CHARS)] or [["的"]]
        self.prefix, self.sprite_id, self.css_id = prefix, sprite_id, css_id
        self.cls: dict[str, str] = {}
        used = set()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        for ch in chars:
            while True:
                name = prefix + "".join(rng.choice(alphabet) for _ in range(3))
                if name not in used:
                    used.add(name)
                    self.cls[ch] = name
                    break

    def css_path(self) -> str:
        return f"{DP_CSS_DIR}/{self.css_id}.css"

    def svg_path(self) -> str:
        return f"{DP_CSS_DIR}/{self.sprite_id}.svg"

    def css(self) -> str:
        lines = [f'svgmtsi[class^="{self.prefix}"]{{width:14px;height:30px;margin-top:-9px;background-image: '
                 f'url(//s3plus.meituan.net{self.svg_path()});background-repeat: no-repeat;display: inline-block;'
                 f'vertical-align: middle;margin-left:-6px\\9;}}']
        for r, row in enumerate(self.rows):
            y = 41 + r * DP_ROW_H
            for c, ch in enumerate(row):
                lines.append(f".{self.cls[ch]}{{background:-{c * DP_FONT}.0px -{y - 23}.0px;}}")
        return "\n".join(lines) + "\n"

    def svg(self) -> str:
        xs = " ".join(str(i * DP_FONT) for i in range(DP_ROW_CHARS))
        rows = "\n".join(f'<text x="{xs}" y="{41 + r * DP_ROW_H}">{"".join(row)}</text>'
                         for r, row in enumerate(self.rows))
        return ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
                '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" xmlns:xlink="http://www.w3.org/1999/xlink" '
                f'width="650px" height="{41 + len(self.rows) * DP_ROW_H}px">\n'
                "<style>text {font-family:PingFangSC-Regular,Microsoft YaHei,'Hiragino Sans GB',Helvetica;"
                "font-size:14px;fill:#333;}</style>\n" + rows + "\n</svg>")

    def obfuscate(self, text: str) -> str:
        # punctuation and a few common characters stay plain, as on the real site
        out = []
        for ch in text:
            name = self.cls.get(ch)
            out.append(f'<svgmtsi class="{name}"></svgmtsi>' if name and ch not in "的了个" else html.escape(ch))
        return "".join(out)


def dianping_review_page(shop_id: str, shop_name: str, reviews: list[Item], page: int, sprite: DianpingSprite) -> str:
    chunk = page_of(reviews, page, DIANPING_PAGE)
    n = pages(reviews, DIANPING_PAGE)
    lis = []
    for r in chunk:
        uid = r.author.uid % 100_000_000
        star = (r.rating or 3) * 10
        words = sprite.obfuscate(r.text)
        taste = min(5, (r.rating or 3) + (0 if r.surge else 0.5))
        lis.append(f"""<li>
<a class="dper-photo-aside" data-user-id="{uid}" target="_blank" rel="nofollow" href="/member/{uid}" data-click-name="用户头像"><img data-lazyload="https://p0.meituan.net/userheadpicbackend/{uid}.jpg" src="https://www.dpfile.com/app/pc-common/img/default.png"></a>
<div class="main-review">
<div class="dper-info"><a class="name" target="_blank" rel="nofollow" href="/member/{uid}" data-click-name="用户名">
        {html.escape(r.author.name)}
      </a></div>
<div class="review-rank">
<span class="sml-rank-stars sml-str{star} star"></span>
<span class="score">
<span class="item">口味：{taste:g}</span>
<span class="item">环境：{r.rating or 3}</span>
<span class="item">服务：{max(1, (r.rating or 3) - (1 if r.surge else 0))}</span>
<span class="item">人均：{r.extra.get("price", 100)}元</span>
</span>
</div>
<div class="review-words">
{words}
</div>
<div class="misc-info clearfix">
<span class="time">{sh(r.published):%Y-%m-%d %H:%M}</span>
<span class="shop">{html.escape(shop_name)}</span>
</div>
<div class="actions">
<a class="praise" href="javascript:;" data-id="{r.native_id}" data-click-name="赞">赞</a><em class="col-exp">({r.likes % 40})</em><a class="reply" href="javascript:;" data-id="{r.native_id}" data-click-name="回应">回应</a><em class="col-exp">({r.comments % 9})</em><a class="favor" href="javascript:;" data-id="{r.native_id}" data-click-name="收藏">收藏</a><a class="report" href="javascript:;" data-id="{r.native_id}" data-click-name="举报">举报</a>
</div>
</div>
</li>""")
    nav = []
    if page > 1:
        prev = f"/shop/{shop_id}/review_all" + (f"/p{page - 1}" if page > 2 else "")
        nav.append(f'<a href="{prev}" data-pg="{page - 1}" class="PrevPage" title="上一页">上一页</a>')
    for i in range(1, n + 1):
        href = f"/shop/{shop_id}/review_all" + (f"/p{i}" if i > 1 else "")
        nav.append(f'<span class="PageSel">{i}</span>' if i == page else
                   f'<a href="{href}" data-pg="{i}" class="PageLink" title="{i}">{i}</a>')
    if page < n:
        nav.append(f'<a href="/shop/{shop_id}/review_all/p{page + 1}" data-pg="{page + 1}" class="NextPage" title="下一页">下一页</a>')
    good = sum((x.rating or 0) >= 4 for x in reviews)
    bad = sum((x.rating or 0) <= 2 for x in reviews)
    items = "\n".join(lis)
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>{html.escape(shop_name)}的全部点评 - 成都美食 - 大众点评网</title>
<link rel="stylesheet" type="text/css" href="//www.dpfile.com/mod/app-main-review-all/0.0.30/css/review-all.css">
<link rel="stylesheet" type="text/css" href="//s3plus.meituan.net{sprite.css_path()}">
<script>window.rohrdata = ""; var pageConfig = {{"shopId":"{shop_id}","shopType":10,"cityId":8,"page":{page}}};</script>
</head><body class="review-all">
<div class="review-list-header"><h1 class="shop-name">{html.escape(shop_name)}</h1></div>
<div class="reviews-tags"><div class="filter-good"><a href="javascript:;">好评<span class="count">({good})</span></a></div><div class="filter-middle"><a href="javascript:;">中评<span class="count">({len(reviews) - good - bad})</span></a></div><div class="filter-bad"><a href="javascript:;">差评<span class="count">({bad})</span></a></div></div>
<div class="review-list-main"><div class="reviews-wrapper"><div class="reviews-items"><ul>
{items}
</ul></div>
<div class="bottom-area clearfix"><div class="reviews-pages">{''.join(nav)}</div></div></div></div>
<script>document.querySelectorAll('.review-words').forEach(function(el){{el.setAttribute('data-rendered','1')}});</script>
</body></html>"""
