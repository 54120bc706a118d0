"""The registry's JSON API under /api/v1, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from jutong.registry import api_accounts, api_census, api_plans, api_zombies
from jutong.web.deps import record_read

router = APIRouter()
# census, zombie, plan and filing reads are data accesses: each one is audited
for area in (api_accounts, api_census, api_zombies, api_plans):
    audited = [Depends(record_read)] if area is not api_accounts else []
    router.include_router(area.router, dependencies=audited)
