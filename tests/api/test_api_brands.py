"""/v1/brands CRUD (admin writes, read lists)."""

from __future__ import annotations

BRAND = {"name": "小米", "keywords": ["小米", "红米"], "aliases": ["Xiaomi"], "exclusions": ["小米粥"],
         "sources": ["weibo", "jd"], "sensitivity": "more"}


def test_brand_lifecycle(client, keys):
    h, ro = keys.h("admin"), keys.h("read")
    assert client.get("/v1/brands", headers=ro).json() == {"items": []}
    r = client.post("/v1/brands", json=BRAND, headers=h)
    assert r.status_code == 201 and r.json()["sensitivity"] == "more"
    assert client.post("/v1/brands", json=BRAND, headers=h).status_code == 409
    assert client.get("/v1/brands/小米", headers=ro).json()["aliases"] == ["Xiaomi"]
    renamed = BRAND | {"name": "Xiaomi", "sensitivity": "fewer"}
    r = client.put("/v1/brands/小米", json=renamed, headers=h)
    assert r.status_code == 200 and r.json()["name"] == "Xiaomi"
    assert client.get("/v1/brands/小米", headers=ro).status_code == 404
    assert [b["name"] for b in client.get("/v1/brands", headers=ro).json()["items"]] == ["Xiaomi"]
    assert client.put("/v1/brands/nobody", json=BRAND, headers=h).status_code == 404
    assert client.delete("/v1/brands/Xiaomi", headers=ro).status_code == 403
    assert client.delete("/v1/brands/Xiaomi", headers=h).status_code == 204
    assert client.delete("/v1/brands/Xiaomi", headers=h).status_code == 404


def test_invalid_brand_is_422_with_field(client, keys):
    r = client.post("/v1/brands", json={"name": "bad/name"}, headers=keys.h("admin"))
    assert r.status_code == 422
    assert any(e["loc"] == "body.name" for e in r.json()["errors"])
    r = client.post("/v1/brands", json={"name": "ok", "sensitivity": "paranoid"}, headers=keys.h("admin"))
    assert r.status_code == 422 and "sensitivity" in r.json()["detail"]
