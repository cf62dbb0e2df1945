import json
from pathlib import Path

OUT = Path(__file__).resolve().parent
summary = {"skuId": 100012043978, "productId": 100012043978, "averageScore": 5, "commentCount": 49213,
           "commentCountStr": "4.9万+", "goodCount": 48000, "goodCountStr": "4.8万+", "goodRate": 0.976,
           "goodRateShow": 98, "generalCount": 600, "generalRate": 0.012, "poorCount": 613, "poorRate": 0.012,
           "poorRateShow": 1, "defaultGoodCount": 30000, "afterCount": 1500, "videoCount": 320, "showCount": 5000,
           "score1Count": 613, "score2Count": 200, "score3Count": 400, "score4Count": 2000, "score5Count": 46000}
tags = [{"id": "a2b9c1d7e0f3", "name": "送货快", "count": 3200, "rid": "1", "productId": 100012043978, "status": 0},
        {"id": 2, "name": "屏幕清晰", "count": 1500, "rid": "2", "productId": 100012043978, "status": 0}]
def c(id_, content, t, score, nick, prov, useful=0, reply=0, color="曜石黑", size="12GB+256GB", images=None):
    return {"id": id_, "guid": f"g{id_}", "content": content, "creationTime": t, "isTop": False,
            "referenceId": "100012043978", "referenceName": "小米14 徕卡光学镜头 12GB+256GB 曜石黑",
            "referenceTime": "2024-07-20 10:00:00", "score": score, "replyCount": reply,
            "usefulVoteCount": useful, "uselessVoteCount": 0, "userImageUrl": "storage.360buyimg.com/i.imageUpload/x.jpg",
            "userLevelName": "PLUS会员", "userProvince": prov, "nickname": nick, "userClient": 4,
            "userClientShow": "来自京东Android客户端", "productColor": color, "productSize": size,
            "imageCount": len(images or []), "images": [{"imgUrl": u} for u in (images or [])],
            "isMobile": True, "days": 12, "anonymousFlag": 1}
p0 = [c(1330322625, "物流很快，第二天就到了。屏幕显示效果很好&hellip;&hellip;拍照也清晰！", "2024-08-01 12:43:52", 5, "我***猪", "广东", useful=12, reply=1,
        images=["//img30.360buyimg.com/n0/s128x96_jfs/t1/1.jpg"]),
      c(1330322626, "此用户未填写评价内容", "2024-08-02 08:00:00", 4, "j***n", "北京"),
      c(1330322627, "用了一周就发热严重，\n客服一直推脱，差评！", "2024-08-03 21:15:00", 1, "小***丸", "", useful=30, reply=3)]
p1 = [c(1330322628, "性价比高，送货快", "2024-07-30 09:00:00", 5, "a***1", "上海"),
      c(1330322629, "包装有破损，但手机没问题，给个中评", "2024-07-29 18:30:10", 3, "吃***瓜", "四川", color="雪山粉")]
for i, comments in enumerate([p0, p1]):
    body = {"productAttr": None, "productCommentSummary": summary, "hotCommentTagStatistics": tags,
            "jwotestProduct": "99", "maxPage": 2, "testId": "cmt", "score": 0, "soType": 5,
            "imageListCount": 500, "vTagStatistics": None, "csv": "comment,centerVTagSwitch", "comments": comments}
    text = "fetchJSON_comment98(" + json.dumps(body, ensure_ascii=False, separators=(",", ":")) + ");"
    (OUT / f"comments_100012043978_page{i}.jsonp").write_bytes(text.encode("gbk"))
# no reviews at all
body = {"productCommentSummary": {**summary, "commentCount": 0}, "maxPage": 0, "comments": []}
(OUT / "comments_300000000001_page0.jsonp").write_bytes(("fetchJSON_comment98(" + json.dumps(body, ensure_ascii=False) + ");").encode("gbk"))
(OUT / "blocked_empty.json").write_bytes(b"{}")
(OUT / "blocked_403.html").write_bytes(b"<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>JDWS</center></body></html>")
print(sorted(p.name for p in OUT.iterdir()))
