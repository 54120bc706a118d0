"""The catalog's JSON API under /api/v1, assembled from its areas."""

from __future__ import annotations

from fastapi import APIRouter

from jutong.catalog import api_io, api_resources, api_search, api_standards, api_stats

router = APIRouter()
# search, statistics and files before the resource routes, so /catalog/search is not read as a resource id
for area in (api_search, api_stats, api_io, api_standards, api_resources):
    router.include_router(area.router)
