"""The registry's pages, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jutong.registry import views_admin, views_census, views_plans, views_zombies
from jutong.web.deps import record_read

router = APIRouter(include_in_schema=False)
# census, zombie, plan and filing reads are data accesses: each one is audited
for area in (views_admin, views_census, views_zombies, views_plans):
    audited = [Depends(record_read)] if area is not views_admin else []
    router.include_router(area.router, dependencies=audited)
