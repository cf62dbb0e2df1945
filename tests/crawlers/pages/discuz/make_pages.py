"""Generates the GBK Discuz! fixtures (run once; the .html files are the saved pages)."""
from pathlib import Path

OUT = Path(__file__).resolve().parent
OUT.mkdir(parents=True, exist_ok=True)

HEAD = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gbk" />
<title>{title} -  手机之家论坛 -  Powered by Discuz!</title>
<meta name="generator" content="Discuz! X3.4" />
<script type="text/javascript">var STYLEID = '1', STATICURL = 'static/', IMGDIR = 'static/image/common', VERHASH = 'T4p', charset = 'gbk', discuz_uid = '0', cookiepre = 'xYz_2132_', formhash = 'a1b2c3d4';</script>
</head>
<body id="nv_forum" class="pg_{pg}" onkeydown="if(event.keyCode==27) return false;">
<div id="hd"><div class="wp"><div class="hdc cl"><h2><a href="./" title="手机之家论坛"><img src="static/image/common/logo.png" alt="手机之家论坛" border="0" /></a></h2>
<div id="um"><p><a href="member.php?mod=logging&amp;action=login">登录</a> | <a href="member.php?mod=register">立即注册</a></p></div></div></div></div>
<div id="wp" class="wp">
"""
FOOT = """</div>
<div id="ft" class="wp cl"><div id="flk" class="y"><p>Powered by <strong><a href="https://www.discuz.vip" target="_blank">Discuz!</a></strong> <em>X3.4</em></p></div></div>
</body></html>
"""


def thread_row(kind, tid, title, author, uid, date, replies, views, last, href):
    return f"""<tbody id="{kind}thread_{tid}">
<tr>
<td class="icn"><a href="{href}" title="有新回复 - 新窗口打开" target="_blank"><img src="static/image/common/{'pin_1' if kind == 'stick' else 'folder_new'}.gif" /></a></td>
<th class="new">
<a href="javascript:;" id="content_{tid}" class="showcontent y" title="更多操作" onclick="CONTENT_TID='{tid}';CONTENT_ID='{kind}thread_{tid}';showMenu({{'ctrlid':this.id,'menuid':'content_menu'}})"></a>
<a href="{href}" onclick="atarget(this)" class="s xst">{title}</a>
</th>
<td class="by">
<cite><a href="home.php?mod=space&amp;uid={uid}" c="1">{author}</a></cite>
<em><span{' class="xi1"' if kind == 'stick' else ''}>{date}</span></em>
</td>
<td class="num"><a href="{href}" class="xi2">{replies}</a><em>{views}</em></td>
<td class="by">
<cite><a href="home.php?mod=space&amp;username=x" c="1">某网友</a></cite>
<em><a href="forum.php?mod=redirect&amp;tid={tid}&amp;goto=lastpost#lastpost">{last}</a></em>
</td>
</tr>
</tbody>
"""


def forum_page(name, title, rows, pager):
    body = f"""<div id="pt" class="bm cl"><div class="z"><a href="./" class="nvhm" title="首页">手机之家论坛</a><em>&raquo;</em><a href="forum.php">论坛</a><em>&raquo;</em><a href="forum.php?mod=forumdisplay&amp;fid=2">{title}</a></div></div>
<div class="boardnav"><div id="ct" class="wp cl">
<div id="threadlist" class="tl bm bmw"><div class="th"><table cellspacing="0" cellpadding="0"><tr><th colspan="2">主题</th><td class="by">作者</td><td class="num">回复/查看</td><td class="by">最后发表</td></tr></table></div>
<div class="bm_c"><form method="post" autocomplete="off" name="moderate" id="moderate" action="forum.php?mod=topicadmin&amp;action=moderate&amp;fid=2&amp;infloat=yes&amp;nopost=yes">
<table summary="forum_2" cellspacing="0" cellpadding="0" id="threadlisttableid">
{rows}</table></form></div></div>
<div class="bm bw0 pgs cl"><span id="fd_page_bottom">{pager}</span></div>
</div></div>
"""
    (OUT / name).write_bytes((HEAD.format(title=title, pg="forumdisplay") + body + FOOT).encode("gbk"))


SEP = """<tbody id="separatorline" class="emptb"><tr class="ts"><td>&nbsp;</td><th><a href="javascript:;" onclick="checkForumnew_btn('2')" title="查看新帖" class="forumrefresh">查看新帖</a></th><td>&nbsp;</td><td>&nbsp;</td><td>&nbsp;</td></tr></tbody>
"""

vt = "forum.php?mod=viewthread&amp;tid={}&amp;extra=page%3D1"
forum_page("forumdisplay_fid2_page1.html", "售后服务", "".join([
    thread_row("stick", 1001, "【版规】售后服务版发帖须知", "版主小王", 1, "2023-1-1", 3, 10240, "2024-8-1 10:00", vt.format(1001)),
    SEP,
    thread_row("normal", 1002, "华为P60换电池被多收了钱", "老张", 35, "2024-1-2", 3, 856, "2024-1-5 21:03", vt.format(1002)),
    thread_row("normal", 1003, "隐藏内容测试：回复可见的刷机包", "刷机达人", 77, "2024-1-3", 1, 99, "2024-1-3 12:00", vt.format(1003)),
]), '<div class="pg"><strong>1</strong><a href="forum.php?mod=forumdisplay&amp;fid=2&amp;page=2">2</a><label><input type="text" name="custompage" class="px" size="2" title="输入页码，按回车快速跳转" value="1" /><span title="共 2 页"> / 2 页</span></label><a href="forum.php?mod=forumdisplay&amp;fid=2&amp;page=2" class="nxt">下一页</a></div>')
forum_page("forumdisplay_fid2_page2.html", "售后服务", "".join([
    thread_row("normal", 1004, "需要权限的帖子", "神秘人", 88, "2023-12-30", 0, 12, "2023-12-30 08:00", vt.format(1004)),
]), '<div class="pg"><a href="forum.php?mod=forumdisplay&amp;fid=2&amp;page=1" class="prev">&nbsp;&nbsp;</a><a href="forum.php?mod=forumdisplay&amp;fid=2&amp;page=1">1</a><strong>2</strong></div>')
# Board with URL rewriting on (forum-36-1.html / thread-T-P-1.html links).
forum_page("forumdisplay_fid36_page1.html", "小米手机", "".join([
    thread_row("normal", 3001, "小米14屏幕绿线，官方免费换屏", "米粉阿强", 501, "2024-8-1", 2, 300, "2024-8-2 09:00", "thread-3001-1-1.html"),
]), '<div class="pg"><strong>1</strong></div>')
# An empty board.
(OUT / "forumdisplay_fid40_page1.html").write_bytes((HEAD.format(title="空版块", pg="forumdisplay") + """<div id="threadlist" class="tl bm bmw"><div class="bm_c"><table summary="forum_40" cellspacing="0" cellpadding="0" id="threadlisttableid"><tbody class="bw0_all"><tr><th colspan="5"><p class="emp">本版块或指定的范围内尚无主题</p></th></tr></tbody></table></div></div>
""" + FOOT).encode("gbk"))
# A login-gated board (Discuz showmessage page).
(OUT / "forumdisplay_fid9_login.html").write_bytes((HEAD.format(title="提示信息", pg="forumdisplay") + """<div id="ct" class="wp cl w"><div class="nfl" id="main_succeed" style="display: none"><div class="f_c altw"><div class="alert_right"><p id="succeedmessage"></p></div></div></div>
<div class="nfl" id="main_messaqge"><div id="layer_login_a1b2c"><h3 class="flb"><em id="returnmessage_a1b2c">提示信息</em></h3>
<div class="f_c altw"><div id="messagetext" class="alert_info"><p>抱歉，您需要登录后才能继续本操作</p></div><div id="messagelogin"><form method="post" autocomplete="off" name="login" action="member.php?mod=logging&amp;action=login&amp;loginsubmit=yes"><input type="text" name="username" /></form></div></div></div></div></div>
""" + FOOT).encode("gbk"))


def post(pid, tid, floor, author, uid, when, body):
    return f"""<div id="post_{pid}" ><table id="pid{pid}" class="plhin" summary="pid{pid}" cellspacing="0" cellpadding="0">
<tr>
<td class="pls" rowspan="2">
<div id="favatar{pid}" class="pls favatar"><div class="pi"><div class="authi"><a href="home.php?mod=space&amp;uid={uid}" target="_blank" class="xw1">{author}</a></div></div>
<div class="avatar"><a href="home.php?mod=space&amp;uid={uid}" class="avtm" target="_blank"><img src="uc_server/avatar.php?uid={uid}&amp;size=middle" /></a></div></div>
</td>
<td class="plc">
<div class="pi">
<strong><a href="forum.php?mod=redirect&amp;goto=findpost&amp;ptid={tid}&amp;pid={pid}" id="postnum{pid}" onclick="setCopy(this.href, '帖子地址复制成功');return false;"><em>{floor}</em><sup>#</sup></a></strong>
<div class="pti"><div class="pdbt"></div><div class="authi"><img class="authicn vm" id="authicon{pid}" src="static/image/common/online_member.gif" />
<em id="authorposton{pid}">{when}</em>
<span class="pipe">|</span><a href="forum.php?mod=viewthread&amp;tid={tid}&amp;page=1&amp;authorid={uid}" rel="nofollow">只看该作者</a>
</div></div>
</div><div class="pct"><style type="text/css">.pcb{{margin-right:0}}</style><div class="pcb">
{body}
<div id="comment_{pid}" class="cm"></div>
<div id="post_rate_div_{pid}"></div>
</div></div>
</td></tr>
<tr><td class="plc plm"></td></tr>
</table></div>
"""


def tf(pid, html):
    return f"""<div class="t_fsz">
<table cellspacing="0" cellpadding="0"><tr><td class="t_f" id="postmessage_{pid}">
{html}</td></tr></table>
</div>"""


def thread_page(name, tid, subject, posts, pager, replies):
    body = f"""<div id="pt" class="bm cl"><div class="z"><a href="./" class="nvhm" title="首页">手机之家论坛</a><em>&raquo;</em><a href="forum.php?mod=forumdisplay&amp;fid=2">售后服务</a><em>&rsaquo;</em><a href="forum.php?mod=viewthread&amp;tid={tid}">{subject}</a></div></div>
<div id="ct" class="wp cl"><div id="pgt" class="pgs mbm cl ">{pager}</div>
<div id="postlist" class="pl bm">
<table cellspacing="0" cellpadding="0"><tr><td class="pls ptn pbn"><div class="hm ptn"><span class="xg1">查看:</span> <span class="xi1">856</span><span class="pipe">|</span><span class="xg1">回复:</span> <span class="xi1">{replies}</span></div></td>
<td class="plc ptm pbn vwthd"><h1 class="ts"><a href="forum.php?mod=forumdisplay&amp;fid=2&amp;filter=typeid&amp;typeid=3">[求助]</a>
<span id="thread_subject">{subject}</span></h1></td></tr></table>
{''.join(posts)}
</div>
<div class="pgs mtm mbm cl">{pager}</div></div>
"""
    (OUT / name).write_bytes((HEAD.format(title=subject, pg="viewthread") + body + FOOT).encode("gbk"))


thread_page("viewthread_tid1001_page1.html", 1001, "【版规】售后服务版发帖须知", [
    post(1, 1001, 1, "版主小王", 1, "发表于 2023-1-1 08:00", tf(1, "1. 发帖请注明机型与购买渠道。<br />\r\n2. 禁止发布广告。")),
], "", 0)
thread_page("viewthread_tid1002_page1.html", 1002, "华为P60换电池被多收了钱", [
    post(2001, 1002, 1, "老张", 35, "发表于 2024-1-2 10:00", tf(2001, '<i class="pstatus"> 本帖最后由 老张 于 2024-1-2 10:05 编辑 </i><br />\r\n<br />\r\n官方说换电池299，结果结账收了399，说是&ldquo;人工费&rdquo;另算。<br />\r\n<font color="Red">大家遇到过吗？</font><img src="static/image/smiley/default/sad.gif" smilieid="2" border="0" alt="" />')),
    post(2002, 1002, 2, "路人乙", 36, '发表于 <span title="2024-1-3 09:15">昨天&nbsp;09:15</span>', tf(2002, '<div class="quote"><blockquote><font size="2"><a href="forum.php?mod=redirect&amp;goto=findpost&amp;pid=2001&amp;ptid=1002" target="_blank"><font color="#999999">老张 发表于 2024-1-2 10:00</font></a></font><br />\r\n官方说换电池299，结果结账收了399</blockquote></div><br />\r\n去12315投诉，一投一个准。')),
    post(2003, 1002, 3, "被禁用户", 37, "发表于 2024-1-3 11:00", '<div class="locked">提示: <em>作者被禁止或删除 内容自动屏蔽</em></div>'),
], '<div class="pg"><strong>1</strong><a href="forum.php?mod=viewthread&amp;tid=1002&amp;extra=page%3D1&amp;page=2">2</a><label><input type="text" name="custompage" class="px" size="2" value="1" /><span title="共 2 页"> / 2 页</span></label><a href="forum.php?mod=viewthread&amp;tid=1002&amp;extra=page%3D1&amp;page=2" class="nxt">下一页</a></div>', 3)
thread_page("viewthread_tid1002_page2.html", 1002, "华为P60换电池被多收了钱", [
    post(2004, 1002, 4, "老张", 35, '发表于 <span title="2024-1-5 21:03">3&nbsp;天前</span>', tf(2004, "后来打了客服热线，退了100块，算是解决了。")),
], '<div class="pg"><a href="forum.php?mod=viewthread&amp;tid=1002&amp;extra=page%3D1&amp;page=1" class="prev">&nbsp;&nbsp;</a><a href="forum.php?mod=viewthread&amp;tid=1002&amp;extra=page%3D1&amp;page=1">1</a><strong>2</strong></div>', 3)
thread_page("viewthread_tid1003_page1.html", 1003, "隐藏内容测试：回复可见的刷机包", [
    post(3005, 1003, 1, "刷机达人", 77, "发表于 2024-1-3 12:00:35", tf(3005, '刷机包下载地址如下：<br />\r\n<div class="locked"><a href="member.php?mod=logging&amp;action=login" onclick="showWindow(\'login\', this.href)">游客</a>，如果您要查看本帖隐藏内容请<a href="forum.php?mod=post&amp;action=reply&amp;fid=2&amp;tid=1003" onclick="showWindow(\'reply\', this.href)">回复</a></div>')),
], "", 1)
(OUT / "viewthread_tid1004_nopermission.html").write_bytes((HEAD.format(title="提示信息", pg="viewthread") + """<div id="ct" class="wp cl w"><div class="nfl" id="main_messaqge"><div class="f_c altw"><div id="messagetext" class="alert_error"><p>抱歉，本帖要求阅读权限高于 10 才能浏览</p></div><div id="messagelogin"></div></div></div></div>
""" + FOOT).encode("gbk"))
# Rewritten-URL thread on board 36 (two pages linked as thread-T-P-1.html).
thread_page("thread-3001-1-1.html", 3001, "小米14屏幕绿线，官方免费换屏", [
    post(5001, 3001, 1, "米粉阿强", 501, "发表于 2024-8-1 20:00", tf(5001, "用了十个月出现绿线，官方检测后免费换屏，点赞。")),
    post(5002, 3001, 2, "數碼控", 502, "发表于 2024-8-1 21:10", tf(5002, "我的也出現了，繁體字測試：螢幕綠線")),
], '<div class="pg"><strong>1</strong><a href="thread-3001-2-1.html">2</a><a href="thread-3001-2-1.html" class="nxt">下一页</a></div>', 2)
thread_page("thread-3001-2-1.html", 3001, "小米14屏幕绿线，官方免费换屏", [
    post(5003, 3001, 3, "米粉阿强", 501, "发表于 2024-8-2 09:00", tf(5003, "补充：保修期外也可以免费换，政策到年底。")),
], '<div class="pg"><a href="thread-3001-1-1.html">1</a><strong>2</strong></div>', 2)
print(sorted(p.name for p in OUT.iterdir()))
