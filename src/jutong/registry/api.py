"""The registry's JSON API under /api/v1, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter

from jutong.registry import api_accounts, api_census, api_plans, api_zombies

router = APIRouter()
for area in (api_accounts, api_census, api_zombies, api_plans):
    router.include_router(area.router)
