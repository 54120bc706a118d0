"""The catalog's pages, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter

from jutong.catalog import views_io, views_resources, views_search, views_standards, views_stats

router = APIRouter(include_in_schema=False)
for area in (views_search, views_stats, views_io, views_standards, views_resources):
    router.include_router(area.router)
