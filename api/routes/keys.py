"""/v1/keys: API key management (admin). The CLI (`opmon keys`) does the same offline."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path

from api.auth import KeyRepo, Principal
from api.deps import get_key_repo, require_scope
from api.errors import problem_responses
from api.schemas import KeyCreated, KeyIn, KeyList, KeyOut
from core.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["keys"])


@router.get("/keys", response_model=KeyList, summary="List API keys (admin; tokens are never shown)",
            responses=problem_responses(401, 403, 429))
def list_keys(_principal=Depends(require_scope("admin")), repo: KeyRepo = Depends(get_key_repo)) -> KeyList:
    return KeyList(items=[KeyOut(**asdict(k)) for k in repo.list()])


@router.post("/keys", response_model=KeyCreated, status_code=201, summary="Create an API key (admin)",
             description="The token is returned once, in this response; only its SHA-256 is stored.",
             responses=problem_responses(400, 401, 403, 422, 429))
def create_key(body: Annotated[KeyIn, Body()], _principal=Depends(require_scope("admin")),
               repo: KeyRepo = Depends(get_key_repo)) -> KeyCreated:
    info, token = repo.create(body.name, list(body.scopes), body.rate_per_minute)
    return KeyCreated(**asdict(info), token=token)


@router.delete("/keys/{key_id}", response_model=KeyOut, summary="Revoke an API key (admin)",
               responses=problem_responses(400, 401, 403, 404, 429))
def revoke_key(key_id: Annotated[str, Path(max_length=64, examples=["k3f9a1c2b"])],
               principal: Principal = Depends(require_scope("admin")),
               repo: KeyRepo = Depends(get_key_repo)) -> KeyOut:
    if key_id == principal.key_id:
        raise InvalidInput("a key cannot revoke itself; use another admin key or `opmon keys revoke`")
    return KeyOut(**asdict(repo.revoke(key_id)))
