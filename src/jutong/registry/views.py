"""The registry's pages, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter

from jutong.registry import views_admin, views_census, views_plans, views_zombies

router = APIRouter(include_in_schema=False)
for area in (views_admin, views_census, views_zombies, views_plans):
    router.include_router(area.router)
