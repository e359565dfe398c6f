"""FastAPI dependencies: hand routes the objects the app factory built, so routes never construct them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.answering import Answerer
from service.live_index import LiveIndex


# `async def` although they only read app state: FastAPI runs a sync dependency in the worker thread pool,
# so a sync one would make /readyz queue behind busy /v1/ask threads (issue 12).
async def get_answerer(request: Request) -> Answerer:
    return request.app.state.answerer


async def get_live_index(request: Request) -> LiveIndex:
    return request.app.state.live_index


AnswererDep = Annotated[Answerer, Depends(get_answerer)]
LiveIndexDep = Annotated[LiveIndex, Depends(get_live_index)]
