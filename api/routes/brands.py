"""/v1/brands: the monitored brands (keywords, aliases, exclusions, sources, alert sensitivity)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response

from api.deps import get_brand_repo, require_scope
from api.errors import problem_responses
from api.schemas import BrandList
from core.brands import Brand, BrandRepo

router = APIRouter(prefix="/v1", tags=["brands"])

BRAND_EXAMPLE = {
    "name": "小米", "keywords": ["小米", "红米"], "aliases": ["Xiaomi", "Redmi"], "exclusions": ["小米粥"],
    "sources": ["weibo", "tieba", "jd"], "targets": {"jd": ["100012043978"], "tieba": ["小米"]},
    "sensitivity": "balanced", "enabled": True,
}
NameP = Annotated[str, Path(max_length=64, description="brand name", examples=["小米"])]


@router.get("/brands", response_model=BrandList, summary="List monitored brands",
            responses=problem_responses(401, 403, 429))
def list_brands(_principal=Depends(require_scope("read")), repo: BrandRepo = Depends(get_brand_repo)) -> BrandList:
    return BrandList(items=repo.list())


@router.get("/brands/{name}", response_model=Brand, summary="One brand",
            responses=problem_responses(401, 403, 404, 429))
def get_brand(name: NameP, _principal=Depends(require_scope("read")),
              repo: BrandRepo = Depends(get_brand_repo)) -> Brand:
    return repo.get(name)


@router.post("/brands", response_model=Brand, status_code=201, summary="Add a brand (admin)",
             responses=problem_responses(401, 403, 409, 422, 429))
def create_brand(brand: Annotated[Brand, Body(examples=[BRAND_EXAMPLE])],
                 _principal=Depends(require_scope("admin")), repo: BrandRepo = Depends(get_brand_repo)) -> Brand:
    return repo.create(brand)


@router.put("/brands/{name}", response_model=Brand, summary="Replace a brand (admin); may rename it",
            responses=problem_responses(401, 403, 404, 409, 422, 429))
def replace_brand(name: NameP, brand: Annotated[Brand, Body(examples=[BRAND_EXAMPLE])],
                  _principal=Depends(require_scope("admin")), repo: BrandRepo = Depends(get_brand_repo)) -> Brand:
    return repo.replace(name, brand)


@router.delete("/brands/{name}", status_code=204, response_class=Response, summary="Remove a brand (admin)",
               responses=problem_responses(401, 403, 404, 429))
def delete_brand(name: NameP, _principal=Depends(require_scope("admin")),
                 repo: BrandRepo = Depends(get_brand_repo)) -> Response:
    repo.delete(name)
    return Response(status_code=204)
