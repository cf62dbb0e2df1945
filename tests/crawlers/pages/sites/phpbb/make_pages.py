from pathlib import Path

OUT = Path(__file__).resolve().parent
HEAD = """<!DOCTYPE html>
<html dir="ltr" lang="en-gb">
<head>
<meta charset="utf-8" />
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>{title} - Router Owners Community</title>
<link href="./styles/prosilver/theme/stylesheet.css?assets_version=42" rel="stylesheet">
</head>
<body id="phpbb" class="nojs notouch section-{section} ltr ">
<div id="wrap" class="wrap">
<div id="page-header"><div class="headerbar" role="banner"><div class="inner"><div id="site-description" class="site-description"><h1>Router Owners Community</h1></div></div></div></div>
<div id="page-body" class="page-body" role="main">
"""
FOOT = """</div>
<div id="page-footer" class="page-footer" role="contentinfo"><div class="copyright">Powered by <a href="https://www.phpbb.com/">phpBB</a>&reg; Forum Software &copy; phpBB Limited</div></div>
</div></body></html>
"""
def topic_row(t, title, user, uid, when_iso, when_text, replies, last_iso=None):
    last_iso = last_iso or when_iso
    return f"""<li class="row bg{1 + t % 2}">
<dl class="row-item topic_read">
<dt title="No unread posts"><div class="list-inner">
<a href="./viewtopic.php?t={t}&amp;sid=3f2a9c1d0e" class="topictitle">{title}</a>
<br /><div class="topic-poster responsive-hide left-box">by <a href="./memberlist.php?mode=viewprofile&amp;u={uid}&amp;sid=3f2a9c1d0e" class="username">{user}</a> &raquo; <time datetime="{when_iso}">{when_text}</time></div>
</div></dt>
<dd class="posts">{replies} <dfn>Replies</dfn></dd>
<dd class="views">{replies * 40} <dfn>Views</dfn></dd>
<dd class="lastpost"><span><dfn>Last post </dfn>by <a href="./memberlist.php?mode=viewprofile&amp;u=2" class="username">someone</a> <a href="./viewtopic.php?t={t}#unread" title="Go to last post"><i class="icon fa-external-link-square fa-fw icon-lightgray icon-md" aria-hidden="true"></i></a><br /><time datetime="{last_iso}">{last_iso[:16]}</time></span></dd>
</dl></li>
"""
def forum(name, rows, nxt):
    pager = f'<div class="pagination">{len(rows)} topics <ul><li class="active"><span>1</span></li>' + (f'<li class="arrow next"><a class="button button-icon-only" href="{nxt}" rel="next" role="button"><i class="icon fa-chevron-right fa-fw" aria-hidden="true"></i><span class="sr-only">Next</span></a></li>' if nxt else "") + "</ul></div>"
    body = f"""<h2 class="forum-title"><a href="./viewforum.php?f=12">Support: Wi-Fi and connectivity</a></h2>
<div class="action-bar bar-top">{pager}</div>
<div class="forumbg"><div class="inner">
<ul class="topiclist"><li class="header"><dl class="row-item"><dt><div class="list-inner">Topics</div></dt></dl></li></ul>
<ul class="topiclist topics">
{''.join(rows)}</ul></div></div>
<div class="action-bar bar-bottom">{pager}</div>
"""
    (OUT / name).write_text(HEAD.format(title="Support: Wi-Fi and connectivity", section="viewforum") + body + FOOT, encoding="utf-8")
def post(pid, t, title, user, uid, iso, text, first=False, extra=""):
    return f"""<div id="p{pid}" class="post has-profile bg{2 if first else 1}">
<div class="inner">
<dl class="postprofile" id="profile{pid}">
<dt class="has-profile-rank no-avatar"><div class="avatar-container"></div><a href="./memberlist.php?mode=viewprofile&amp;u={uid}" class="username">{user}</a></dt>
<dd class="profile-rank">Member</dd><dd class="profile-posts"><strong>Posts:</strong> <a href="./search.php?author_id={uid}&amp;sr=posts">31</a></dd>
<dd class="profile-joined"><strong>Joined:</strong> Mon Mar 04, 2024 8:12 pm</dd>
</dl>
<div class="postbody"><div id="post_content{pid}">
<h3 {'class="first"' if first else ''}><a href="./viewtopic.php?p={pid}#p{pid}">{title}</a></h3>
<ul class="post-buttons"><li><a href="./posting.php?mode=quote&amp;p={pid}" title="Reply with quote" class="button button-icon-only"><i class="icon fa-quote-left fa-fw" aria-hidden="true"></i><span>Quote</span></a></li></ul>
<p class="author"><a class="unread" href="./viewtopic.php?p={pid}#p{pid}" title="Post"><i class="icon fa-file fa-fw icon-lightgray icon-md" aria-hidden="true"></i><span class="sr-only">Post</span></a> <span class="responsive-hide">by <strong><a href="./memberlist.php?mode=viewprofile&amp;u={uid}" class="username">{user}</a></strong> &raquo; </span><time datetime="{iso}">{iso[:10]}</time></p>
<div class="content">{text}</div>
{extra}
</div></div>
<div class="back2top"><a href="#top" class="top" title="Top"><i class="icon fa-chevron-circle-up fa-fw icon-gray" aria-hidden="true"></i><span class="sr-only">Top</span></a></div>
</div></div>
<hr class="divider" />
"""
def topic(name, t, title, posts, nxt):
    pager = '<div class="pagination">' + (f'<ul><li class="arrow next"><a class="button button-icon-only" href="{nxt}" rel="next" role="button"><span class="sr-only">Next</span></a></li></ul>' if nxt else "<ul></ul>") + "</div>"
    body = f"""<h2 class="topic-title"><a href="./viewtopic.php?t={t}">{title}</a></h2>
<div class="action-bar bar-top">{pager}</div>
{''.join(posts)}
<div class="action-bar bar-bottom">{pager}</div>
"""
    (OUT / name).write_text(HEAD.format(title=title, section="viewtopic") + body + FOOT, encoding="utf-8")

forum("viewforum_f12_start0.html", [
    topic_row(4321, "Router drops Wi-Fi every night at 2am", "alice", 55, "2025-01-02T10:00:00+00:00", "Thu Jan 02, 2025 10:00 am", 2, "2025-01-03T07:05:00+00:00"),
    topic_row(4322, "Firmware 2.1 fixed my 5GHz issues", "carol", 57, "2025-01-03T08:30:00+00:00", "Fri Jan 03, 2025 8:30 am", 0),
], "./viewforum.php?f=12&amp;start=25")
forum("viewforum_f12_start25.html", [
    topic_row(4100, "Support ticket closed without an answer", "dave", 58, "2024-12-20T21:15:00+00:00", "Fri Dec 20, 2024 9:15 pm", 0),
], None)
topic("viewtopic_t4321.html", 4321, "Router drops Wi-Fi every night at 2am", [
    post(1001, 4321, "Router drops Wi-Fi every night at 2am", "alice", 55, "2025-01-02T10:00:00+00:00",
         "Every night around 2am the Wi-Fi drops for ~5 minutes.<br>Support told me to factory reset, which did nothing.", first=True,
         extra='<div id="sig1001" class="signature">Model X3000, firmware 2.0.4</div>'),
    post(1002, 4321, "Re: Router drops Wi-Fi every night at 2am", "bob", 56, "2025-01-02T11:20:00+00:00",
         '<blockquote><div><cite><a href="./memberlist.php?mode=viewprofile&amp;u=55">alice</a> wrote: <a href="./viewtopic.php?p=1001#p1001">&uarr;</a></cite>Every night around 2am the Wi-Fi drops</div></blockquote>That is the scheduled auto-update check. Turn it off under System &gt; Updates.'),
], "./viewtopic.php?t=4321&amp;start=10")
topic("viewtopic_t4321_start10.html", 4321, "Router drops Wi-Fi every night at 2am", [
    post(1003, 4321, "Re: Router drops Wi-Fi every night at 2am", "alice", 55, "2025-01-03T07:05:00+00:00",
         "Thanks, that fixed it. Shame support did not know."),
], None)
topic("viewtopic_t4322.html", 4322, "Firmware 2.1 fixed my 5GHz issues", [
    post(1010, 4322, "Firmware 2.1 fixed my 5GHz issues", "carol", 57, "2025-01-03T08:30:00+00:00", "Speeds are back to 600 Mbit/s after the update. 👍", first=True),
], None)
topic("viewtopic_t4100.html", 4100, "Support ticket closed without an answer", [
    post(900, 4100, "Support ticket closed without an answer", "dave", 58, "2024-12-20T21:15:00+00:00", "Opened a ticket about the fan noise, it was closed after a week with no reply.", first=True),
], None)
print(sorted(p.name for p in OUT.iterdir()))
