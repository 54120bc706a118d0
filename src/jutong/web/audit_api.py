"""Audit log API for auditors (审计日志查询)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["审计日志"])
