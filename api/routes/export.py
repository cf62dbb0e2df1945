"""/v1/export: NDJSON of every mention in ingest order, from a cursor (the CEM pull feed).

Line types (one JSON object per line):
- a mention (the Mention model, exactly as /v1/mentions/{id} returns it);
- after every batch, a checkpoint: {"_type": "checkpoint", "cursor": "...", "count": 2000};
- last, an end line: {"_type": "end", "cursor": "...", "count": 2500, "more": false};
- if the store fails mid-stream: {"_type": "error", "detail": "...", "cursor": "<last checkpoint>"}.

A client stores the cursor of the last checkpoint it has fully processed and passes it back as
`?cursor=`; mentions after that checkpoint are sent again, nothing before it. So a completed call plus
the next call from its end cursor has no gaps and no duplicates, and an interrupted call resumes from its
last checkpoint (at most one batch repeats: dedupe by `id`). Memory is bounded by one batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.deps import get_store, require_scope
from api.errors import problem_responses
from core.errors import OpmonError
from store.base import ExportBatch, Store

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["export"])

NDJSON = "application/x-ndjson"
_EXAMPLE = (
    '{"id":"weibo:5012345678901234","source":"weibo","kind":"post","text":"小米的售后客服太慢了",...}\n'
    '{"_type":"checkpoint","cursor":"WzEsImV4cG9ydCIsWzEwMDBdXQ","count":1000}\n'
    '{"_type":"end","cursor":"WzEsImV4cG9ydCIsWzEyMzRdXQ","count":1234,"more":false}\n'
)


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@router.get(
    "/export", summary="Export mentions in ingest order (NDJSON, resumable)",
    description=__doc__, response_class=StreamingResponse,
    responses={200: {"description": "NDJSON stream", "content": {NDJSON: {"example": _EXAMPLE}}},
               **problem_responses(400, 401, 403, 422, 429)},
)
def export(
    cursor: Annotated[str | None, Query(max_length=4096, description="resume after this cursor (omit to start)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000_000, description="stop after this many mentions")] = 100_000,
    batch: Annotated[int, Query(ge=10, le=10_000, description="mentions per checkpoint")] = 1000,
    _principal=Depends(require_scope("read")),
    store: Store = Depends(get_store),
) -> StreamingResponse:
    # The first batch is read before the response starts so that a bad cursor is a 400, not a broken stream.
    first = store.export(cursor or None, min(batch, limit))
    return StreamingResponse(_stream(store, first, cursor, limit, batch), media_type=NDJSON,
                             headers={"X-Opmon-Cursor-Start": cursor or "", "Cache-Control": "no-store"})


def _stream(store: Store, page: ExportBatch, start: str | None, limit: int, batch: int) -> Iterator[bytes]:
    count = 0
    last = start or ""
    want = min(batch, limit)
    while True:
        if page.items:
            yield b"".join(m.model_dump_json().encode("utf-8") + b"\n" for m in page.items)
            count += len(page.items)
            last = page.next_cursor
            yield _line({"_type": "checkpoint", "cursor": last, "count": count})
        caught_up = len(page.items) < want
        if caught_up or count >= limit:
            yield _line({"_type": "end", "cursor": page.next_cursor or last, "count": count, "more": not caught_up})
            return
        want = min(batch, limit - count)
        try:
            page = store.export(last, want)
        except OpmonError as exc:
            log.error("export stream failed after %d mentions: %s", count, exc)
            yield _line({"_type": "error", "detail": f"store failed: {exc}; resume from cursor", "cursor": last})
            return
