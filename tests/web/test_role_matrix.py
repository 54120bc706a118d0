"""Who may call what: every route of the app has an explicit rule, and every rule is checked.

The rule table below is the platform's access policy in one place. The route list comes from
the running app, so a new endpoint without a rule fails ``test_every_route_has_a_rule`` with
its name, and a rule for a route that no longer exists fails it too.

For every role (anonymous, operator, steward, auditor, consumer) each ``/api/v1`` route is
called with the role's API key and each page route with its signed-in session:
allowed → neither 401 nor 403 (a 404 or 422 for a made-up object still counts as "let in"),
refused → 401/403, or for pages the sign-in redirect (``/login?next=...``).

Every ``/api/v1`` route is also called with each kind of key that is not a person's own: a key of
民政局's application named in the grant of the matrix resource, a key of another of its applications
named in no grant, a revoked key, a key of a retired application, a well-formed key never issued and a
garbled one. Application keys call only the data services, their department's subscriptions and the
catalog's reads (``web/deps.py``), elsewhere 403 ``api_key_scope``; dead keys get 401 everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jutong.catalog import service as catalog_service
from jutong.catalog import workflow as catalog_workflow
from jutong.catalog.models import CodeSet, DataElement, Resource
from jutong.catalog.schemas import ResourceIn
from jutong.catalog.standards import load_national_standards
from jutong.core import audit, clock
from jutong.core.security import new_api_key
from jutong.ingest.models import Mapping, Source
from jutong.registry import accounts
from jutong.registry.models import Filing, InformationSystem, IntegrationTarget, User
from jutong.sharing import applications, grants
from tests.conftest import PASSWORD, Org, api_headers, login
from tests.ingest.test_pipeline import load as load_file
from tests.ingest.test_pipeline import person_id, write

ANON, OP, ST, AU, CO = "anonymous", "operator", "steward", "auditor", "consumer"
ST_ELSEWHERE = "steward_elsewhere"  # 市民政局's steward, facing 市公安局's objects
WHO = (ANON, OP, ST, AU, CO, ST_ELSEWHERE)
USERNAMES = {OP: "op", ST: "ga_steward", AU: "auditor", CO: "mz_consumer", ST_ELSEWHERE: "mz_steward"}

EVERYONE = frozenset(WHO)
SIGNED_IN = frozenset({OP, ST, AU, CO})
OPERATOR = frozenset({OP})
AUDIT = frozenset({OP, AU})  # the audit log: auditors read, operators read and seal
CENSUS_READ = frozenset({OP, ST, AU})  # census, plans, filings: auditors read, consumers nothing
CENSUS_WRITE = frozenset({OP, ST})  # stewards for their own department (the objects below are theirs)
# zombie candidates: the operator decides, auditors read; stewards read their own department's
# candidates to prepare their answer (registry/zombies.py), consumers nothing
ZOMBIE_READ = frozenset({OP, ST, AU})
# the catalog: every signed-in role reads what is published; the provider's steward or the operator
# catalog; only the operator publishes, sends back and adds local standards
CATALOG_READ = SIGNED_IN
CATALOG_WRITE = frozenset({OP, ST})
CATALOG_HISTORY = frozenset({OP, ST, AU})  # working copies and review tasks: not consumers
# data ingest: the provider's stewards and operators load and manage sources and mappings; auditors
# read loads, quality and the change log's counts; rejects (the rows as sent) only the provider and
# operators; consumers nothing
INGEST_READ = frozenset({OP, ST, AU})
INGEST_WRITE = frozenset({OP, ST})
EMPTY_FILE = {"file": ("空.csv", b"", "text/csv")}
CORRECTION_REPORT = frozenset({ST, CO})  # a department that holds a grant (checked by the service)
CORRECTION_ANSWER = frozenset({OP, ST})
# keys that are not a person's own: every /api/v1 route is called with each of them too
APP = "application_key"  # 民政局's application, named in the grant of the matrix resource
APP_UNGRANTED = "application_key_without_grant"  # another application of 民政局, named in no grant
REVOKED = "revoked_key"  # a key of the granted application, revoked
RETIRED = "retired_application_key"  # a key of an application named in the grant, since retired
UNKNOWN, GARBLED = "unknown_key", "garbled_key"  # well formed but never issued; not a key at all
KEY_KINDS = (APP, APP_UNGRANTED, REVOKED, RETIRED, UNKNOWN, GARBLED)
DEAD_KEYS = frozenset({REVOKED, RETIRED, UNKNOWN, GARBLED})  # 401 api_key_invalid on every route
# application keys call only the data services, their department's subscriptions and the catalog's
# reads (web/deps.py), whatever their issuer's role; elsewhere 403 api_key_scope
APPS = frozenset({APP, APP_UNGRANTED})
CATALOG_API_READ = CATALOG_READ | APPS  # to find a resource's code and items


@dataclass
class Ctx:
    """Objects the calls point at; all belong to the steward's department (市公安局)."""

    org: Org
    role: str
    department_id: int
    system_id: int
    target_id: int
    filing_id: int
    event_id: int
    victim_id: int  # whom the operator deactivates and reactivates
    spare_key_id: int  # a key of the caller's own, to revoke
    resource_id: int  # a published 市公安局 resource with one version
    element_id: int
    code_set_id: int
    load_id: int  # a finished load of that resource
    source_id: int  # a database source of it, never loaded from
    mapping_id: int  # a mapping of it, used by nothing
    keys: dict[str, dict[str, str]]  # each key kind's Authorization header (KEY_KINDS)


Body = dict[str, Any] | list[Any] | Callable[[Ctx], Any] | None


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    json: Body = None
    form: Body = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    fresh_session: bool = False  # signs in or out: runs on its own client
    own_department: bool = False  # acts on 市公安局's objects: a steward of another department is refused
    why: str = ""


def rule(allowed: Iterable[str], **kwargs: Any) -> Rule:
    return Rule(frozenset(allowed), **kwargs)


def own(allowed: Iterable[str], **kwargs: Any) -> Rule:
    """A rule for a route on one department's object: stewards only for their own department."""
    return Rule(frozenset(allowed), own_department=True, **kwargs)


def may(role: str, rule: Rule) -> bool:
    if role == ST_ELSEWHERE:
        return ST in rule.allowed and not rule.own_department
    return role in rule.allowed


CSV = {"file": ("census.csv", "系统名称,所属部门\n".encode(), "text/csv")}
SYSTEM_FIELDS = {"usage_scope": "office", "funding_source": "government", "network": "extranet",
                 "sharing_status": "shared", "status": "running"}  # fmt: skip


def _system_json(c: Ctx) -> dict[str, Any]:
    return {"name": "矩阵系统", "department_id": c.department_id, **SYSTEM_FIELDS}


def _system_form(c: Ctx) -> dict[str, Any]:
    return {"name": "矩阵页面系统", "department_id": str(c.department_id), **SYSTEM_FIELDS}


XLSX_NOT = {"file": ("目录.csv", "信息资源名称\n".encode(), "text/csv")}
RESOURCE_FIELDS = {"classification_code": "101002", "summary": "矩阵用资源", "format_category": "database",
                   "share_type": "unconditional", "delivery": "api", "open_type": "closed",
                   "update_cycle": "daily"}  # fmt: skip


def _resource_json(c: Ctx) -> dict[str, Any]:
    items = [{"name": "公民身份号码", "element_identifier": "DE0001", "is_key": True}]
    return {"name": "矩阵接口资源", "department_id": c.department_id, **RESOURCE_FIELDS, "items": items}


def _resource_form(c: Ctx) -> dict[str, Any]:
    return {"name": "矩阵页面资源", "department_id": str(c.department_id), **RESOURCE_FIELDS,
            "item_name": "公民身份号码", "item_element": "DE0001", "item_key": "0"}  # fmt: skip


def _filing(c: Ctx) -> dict[str, Any]:
    return {"system_id": c.system_id, "kind": "construction", "fiscal_year": 2025, "amount": "12.5"}


RULES: dict[str, Rule] = {
    # platform and documentation
    "GET /healthz": rule(EVERYONE),
    "GET /favicon.ico": rule(EVERYONE),
    "GET /openapi.json": rule(EVERYONE, why="接口文档公开，不含数据"),
    "GET /docs": rule(EVERYONE),
    "GET /docs/oauth2-redirect": rule(EVERYONE),
    "GET /redoc": rule(EVERYONE),
    # signing in, home, own keys
    "GET /login": rule(EVERYONE),
    "POST /login": rule(
        EVERYONE,
        fresh_session=True,
        form=lambda c: {"username": USERNAMES.get(c.role, "mz_consumer"), "password": PASSWORD},
    ),
    "POST /logout": rule(SIGNED_IN, fresh_session=True),
    "GET /": rule(EVERYONE, why="未登录时转到登录页，不显示任何数据"),
    "GET /account/keys": rule(SIGNED_IN),
    "POST /account/keys": rule(SIGNED_IN, form={"name": "矩阵页面密钥"}),
    "POST /account/keys/{key_id}/revoke": rule(SIGNED_IN),
    "GET /api/v1/me": rule(SIGNED_IN),
    "GET /api/v1/api-keys": rule(SIGNED_IN),
    # keys are made by people signed in (the page, or the API with the session), never by a key
    "POST /api/v1/api-keys": rule((), json={"name": "矩阵密钥"}),
    "POST /api/v1/api-keys/{api_key_id}/revoke": rule(SIGNED_IN),
    # organisation and accounts
    "GET /api/v1/regions": rule(SIGNED_IN),
    "GET /api/v1/departments": rule(SIGNED_IN),
    "POST /api/v1/departments": rule(
        OPERATOR, json={"code": "MXA", "name": "矩阵接口局", "region_code": "341000"}
    ),
    "GET /api/v1/users": rule(OPERATOR),
    "POST /api/v1/users": rule(
        OPERATOR, json={"username": "matrix_api", "password": PASSWORD, "role": "auditor"}
    ),
    "POST /api/v1/users/{user_id}/deactivate": rule(OPERATOR),
    "POST /api/v1/users/{user_id}/activate": rule(OPERATOR),
    "GET /admin/users": rule(OPERATOR),
    "POST /admin/users": rule(
        OPERATOR, form={"username": "matrix_page", "password": PASSWORD, "role": "auditor"}
    ),
    "POST /admin/users/{user_id}/deactivate": rule(OPERATOR),
    "POST /admin/users/{user_id}/activate": rule(OPERATOR),
    "GET /admin/departments": rule(OPERATOR),
    "POST /admin/departments": rule(
        OPERATOR, form={"code": "MXB", "name": "矩阵页面局", "region_code": "341000"}
    ),
    # audit log
    "GET /api/v1/audit/events": rule(AUDIT),
    "GET /api/v1/audit/events/{event_id}": rule(AUDIT),
    "GET /api/v1/audit/verify": rule(AUDIT),
    "POST /api/v1/audit/seal": rule(OPERATOR),
    "GET /audit": rule(AUDIT),
    "GET /audit/chain": rule(AUDIT),
    "POST /audit/seal": rule(OPERATOR),
    "GET /audit/{event_id}": rule(AUDIT),
    # system census
    "GET /api/v1/systems": rule(CENSUS_READ),
    "POST /api/v1/systems": own(CENSUS_WRITE, json=_system_json),
    "GET /api/v1/systems/stats": rule(CENSUS_READ),
    "GET /api/v1/systems/export": rule(CENSUS_READ),
    "GET /api/v1/systems/template": rule(CENSUS_READ),
    "POST /api/v1/systems/import": rule(CENSUS_WRITE, files=CSV),
    "GET /api/v1/systems/{system_id}": own(CENSUS_READ),
    "PATCH /api/v1/systems/{system_id}": own(CENSUS_WRITE, json={"description": "矩阵修改"}),
    "GET /api/v1/systems/{system_id}/usage": own(CENSUS_READ),
    "POST /api/v1/systems/{system_id}/usage": own(
        CENSUS_WRITE, json=[{"month": "2025-01", "active_users": 3, "transactions": 10}]
    ),
    "GET /systems": rule(CENSUS_READ),
    "POST /systems/import": rule(CENSUS_WRITE, files=CSV),
    "GET /systems/new": rule(CENSUS_WRITE),
    "POST /systems/new": rule(
        CENSUS_WRITE, form=_system_form, why="部门数据管理员总是登记到本部门，表单里的部门不起作用"
    ),
    "GET /systems/stats": rule(CENSUS_READ),
    "GET /systems/{system_id}": own(CENSUS_READ),
    "GET /systems/{system_id}/edit": own(CENSUS_WRITE),
    "POST /systems/{system_id}/edit": own(CENSUS_WRITE, form=_system_form),
    "POST /systems/{system_id}/usage": own(
        CENSUS_WRITE, form={"month": "2025-02", "active_users": "3", "transactions": "10"}
    ),
    # zombie systems
    "GET /api/v1/zombies": rule(ZOMBIE_READ),
    "GET /api/v1/zombies/thresholds": rule(ZOMBIE_READ),
    "PUT /api/v1/zombies/thresholds": rule(OPERATOR, json={"idle_months": 3}),
    "GET /api/v1/zombies/reviews": rule(ZOMBIE_READ),
    "GET /api/v1/zombies/dismissed": rule(ZOMBIE_READ),
    "POST /api/v1/zombies/{system_id}/confirm": rule(OPERATOR, json={"reason": "矩阵"}),
    "POST /api/v1/zombies/{system_id}/dismiss": rule(OPERATOR, json={"reason": "矩阵"}),
    "GET /zombies": rule(ZOMBIE_READ),
    "GET /zombies/dismissed": rule(ZOMBIE_READ),
    "POST /zombies/thresholds": rule(OPERATOR, form={"idle_months": "3"}),
    "POST /zombies/{system_id}/confirm": rule(OPERATOR, form={"reason": "矩阵"}),
    "POST /zombies/{system_id}/dismiss": rule(OPERATOR, form={"reason": "矩阵"}),
    # integration plans
    "GET /api/v1/plans": rule(CENSUS_READ),
    "GET /api/v1/plans/{department_id}": own(CENSUS_READ),
    "POST /api/v1/plans/{department_id}/targets": own(CENSUS_WRITE, json={"name": "矩阵接口大系统"}),
    "POST /api/v1/systems/{system_id}/integration": own(
        CENSUS_WRITE, json=lambda c: {"target_id": c.target_id, "state": "planned"}
    ),
    "GET /plans": rule(CENSUS_READ),
    "GET /plans/{department_id}": own(CENSUS_READ),
    "POST /plans/{department_id}/targets": own(CENSUS_WRITE, form={"name": "矩阵页面大系统"}),
    "POST /plans/systems/{system_id}/integration": own(
        CENSUS_WRITE,
        form=lambda c: {
            "department_id": str(c.department_id),
            "state": "planned",
            "target_id": str(c.target_id),
        },
    ),
    # funding filings
    "GET /api/v1/filings": rule(CENSUS_READ),
    "POST /api/v1/filings": own(CENSUS_WRITE, json=_filing),
    "POST /api/v1/filings/{filing_id}/review": rule(OPERATOR, json={"result": "approved", "note": "矩阵"}),
    "GET /filings": rule(CENSUS_READ),
    "POST /filings": own(CENSUS_WRITE, form=lambda c: {k: str(v) for k, v in _filing(c).items()}),
    "POST /filings/{filing_id}/review": rule(OPERATOR, form={"result": "approved", "note": "矩阵"}),
    # resource catalog: API
    "GET /api/v1/catalog/resources": rule(CATALOG_API_READ),
    "POST /api/v1/catalog/resources": own(CATALOG_WRITE, json=_resource_json),
    "GET /api/v1/catalog/resources/{resource_id}": rule(CATALOG_API_READ),
    "PATCH /api/v1/catalog/resources/{resource_id}": own(CATALOG_WRITE, json={"summary": "矩阵修改的摘要"}),
    "POST /api/v1/catalog/resources/{resource_id}/submit": own(CATALOG_WRITE),
    "POST /api/v1/catalog/resources/{resource_id}/publish": rule(OPERATOR, json={"note": "矩阵"}),
    "POST /api/v1/catalog/resources/{resource_id}/return": rule(OPERATOR, json={"reason": "矩阵"}),
    "POST /api/v1/catalog/resources/{resource_id}/withdraw": own(CATALOG_WRITE, json={"reason": "矩阵"}),
    "POST /api/v1/catalog/resources/{resource_id}/review": own(CATALOG_WRITE),
    "GET /api/v1/catalog/resources/{resource_id}/versions": rule(CATALOG_API_READ),
    "GET /api/v1/catalog/resources/{resource_id}/versions/{number}": rule(CATALOG_API_READ),
    "GET /api/v1/catalog/resources/{resource_id}/diff": rule(
        CATALOG_API_READ, why="已发布资源的版本差异，公开"
    ),
    "GET /api/v1/catalog/review-queue": rule(OPERATOR),
    "GET /api/v1/catalog/tasks": rule(CATALOG_HISTORY),
    "GET /api/v1/catalog/stats": rule(CATALOG_READ),
    "GET /api/v1/catalog/template": rule(CATALOG_READ),
    "GET /api/v1/catalog/export": rule(CATALOG_READ),
    "POST /api/v1/catalog/import": rule(CATALOG_WRITE, files=XLSX_NOT),
    "GET /api/v1/catalog/search": rule(CATALOG_API_READ),
    # resource catalog: pages
    "GET /catalog": rule(CATALOG_READ),
    "GET /catalog/resources/new": rule(CATALOG_WRITE),
    "POST /catalog/resources/new": own(CATALOG_WRITE, form=_resource_form),
    "GET /catalog/resources/item-row": rule(CATALOG_WRITE),
    "GET /catalog/review": rule(OPERATOR),
    "GET /catalog/tasks": rule(CATALOG_HISTORY),
    "GET /catalog/mine": rule(CATALOG_WRITE),
    "GET /catalog/resources/{resource_id}": rule(CATALOG_READ),
    "GET /catalog/resources/{resource_id}/edit": own(CATALOG_WRITE),
    "POST /catalog/resources/{resource_id}/edit": own(CATALOG_WRITE, form=_resource_form),
    "POST /catalog/resources/{resource_id}/submit": own(CATALOG_WRITE),
    "POST /catalog/resources/{resource_id}/publish": rule(OPERATOR, form={"note": "矩阵"}),
    "POST /catalog/resources/{resource_id}/return": rule(OPERATOR, form={"reason": "矩阵"}),
    "POST /catalog/resources/{resource_id}/withdraw": own(CATALOG_WRITE, form={"reason": "矩阵"}),
    "POST /catalog/resources/{resource_id}/review": own(CATALOG_WRITE),
    "GET /catalog/resources/{resource_id}/diff": rule(CATALOG_READ),
    "GET /catalog/stats": rule(CATALOG_READ),
    "GET /catalog/import": rule(CATALOG_WRITE),
    "POST /catalog/import": rule(CATALOG_WRITE, files=XLSX_NOT),
    # data standards
    "GET /api/v1/standards/classifications": rule(CATALOG_READ),
    "POST /api/v1/standards/classifications": rule(OPERATOR, json={"code": "307099", "name": "矩阵目"}),
    "GET /api/v1/standards/code-sets": rule(CATALOG_READ),
    "GET /api/v1/standards/code-sets/{key:path}": rule(CATALOG_READ),
    "POST /api/v1/standards/code-sets": rule(OPERATOR, json={"identifier": "JT-MX", "name": "矩阵代码集"}),
    "GET /api/v1/standards/elements": rule(CATALOG_READ),
    "GET /api/v1/standards/elements/{key}": rule(CATALOG_READ),
    "POST /api/v1/standards/elements": rule(OPERATOR, json={"identifier": "LDE9001", "name": "矩阵数据元"}),
    "GET /standards": rule(CATALOG_READ),
    "GET /standards/code-sets/{code_set_id}": rule(CATALOG_READ),
    "GET /standards/elements/{element_id}": rule(CATALOG_READ),
    "GET /standards/classifications/new": rule(OPERATOR),
    "GET /standards/code-sets/new": rule(OPERATOR),
    "GET /standards/elements/new": rule(OPERATOR),
    "POST /standards/classifications": rule(OPERATOR, form={"code": "307098", "name": "矩阵页面目"}),
    "POST /standards/code-sets": rule(OPERATOR, form={"identifier": "JT-MX2", "name": "矩阵页面代码集"}),
    "POST /standards/elements": rule(OPERATOR, form={"identifier": "LDE9002", "name": "矩阵页面数据元"}),
    # data ingest: API
    "GET /api/v1/ingest/quality/overview": rule(INGEST_READ, why="部门数据管理员只看到本部门的资源"),
    "POST /api/v1/ingest/resources/{resource_id}/loads": own(
        INGEST_WRITE, files=EMPTY_FILE, why="空文件：放行后以 422 拒收，不排队"
    ),
    "GET /api/v1/ingest/resources/{resource_id}/loads": own(INGEST_READ),
    "GET /api/v1/ingest/loads/{load_id}": own(INGEST_READ),
    "GET /api/v1/ingest/loads/{load_id}/quality": own(INGEST_READ),
    "GET /api/v1/ingest/loads/{load_id}/rejects": own(INGEST_WRITE, why="问题数据含原始记录：审计人员不看"),
    "GET /api/v1/ingest/resources/{resource_id}/quality": own(INGEST_READ),
    "GET /api/v1/ingest/resources/{resource_id}/changes": own(INGEST_READ, why="只有各版本的计数，不含记录"),
    "GET /api/v1/ingest/resources/{resource_id}/sources": own(INGEST_READ, why="连接口令已隐藏"),
    "POST /api/v1/ingest/resources/{resource_id}/sources": own(
        INGEST_WRITE, json={"name": "矩阵接口源", "kind": "http", "config": {"url": "http://127.0.0.1:9/x"}}
    ),
    "GET /api/v1/ingest/sources/{source_id}": own(INGEST_READ),
    "PUT /api/v1/ingest/sources/{source_id}": own(
        INGEST_WRITE,
        json={"name": "矩阵数据源", "kind": "sql", "config": {"url": "sqlite://", "query": "SELECT 2"}},
    ),
    "DELETE /api/v1/ingest/sources/{source_id}": own(INGEST_WRITE),
    "POST /api/v1/ingest/sources/{source_id}/pull": own(INGEST_WRITE),
    "GET /api/v1/ingest/resources/{resource_id}/mappings": own(INGEST_READ),
    "POST /api/v1/ingest/resources/{resource_id}/mappings": own(INGEST_WRITE, json={"name": "矩阵接口映射"}),
    "GET /api/v1/ingest/mappings/{mapping_id}": own(INGEST_READ),
    "PUT /api/v1/ingest/mappings/{mapping_id}": own(INGEST_WRITE, json={"name": "矩阵映射"}),
    "DELETE /api/v1/ingest/mappings/{mapping_id}": own(INGEST_WRITE),
    # data ingest: pages
    "GET /ingest": rule(INGEST_READ, why="部门数据管理员只看到本部门的资源"),
    "GET /ingest/quality": rule(INGEST_READ, why="部门数据管理员只看到本部门的资源"),
    "GET /ingest/resources/{resource_id}": own(INGEST_READ),
    "GET /ingest/resources/{resource_id}/loads": own(INGEST_READ),
    "POST /ingest/resources/{resource_id}/loads": own(INGEST_WRITE, files=EMPTY_FILE),
    "GET /ingest/resources/{resource_id}/quality": own(INGEST_READ),
    "GET /ingest/loads/{load_id}": own(INGEST_READ),
    "GET /ingest/loads/{load_id}/status": own(INGEST_READ),
    "GET /ingest/loads/{load_id}/rejects/download": own(INGEST_WRITE, why="问题数据含原始记录：审计人员不看"),
    "POST /ingest/resources/{resource_id}/sources": own(
        INGEST_WRITE, form={"name": "矩阵页面源", "kind": "file"}
    ),
    "POST /ingest/sources/{source_id}/pull": own(INGEST_WRITE),
    "POST /ingest/sources/{source_id}/delete": own(INGEST_WRITE),
    "GET /ingest/resources/{resource_id}/mappings/new": own(INGEST_WRITE),
    "POST /ingest/resources/{resource_id}/mappings": own(INGEST_WRITE, form={"name": "矩阵页面映射"}),
    "POST /ingest/mappings/{mapping_id}/delete": own(INGEST_WRITE),
    # corrections (纠错): departments with a grant report (resource 0 does not exist: let in, then 404);
    # the provider's stewards and operators answer; operators and auditors follow up the overdue ones
    "POST /api/v1/sharing/corrections": rule(
        CORRECTION_REPORT, json={"resource_id": 0, "record_key": {"gmsfhm": "1"}, "note": "矩阵"}
    ),
    "GET /api/v1/sharing/corrections": rule(SIGNED_IN, why="各部门只看到本部门提出或需答复的"),
    "GET /api/v1/sharing/corrections/overdue": rule(AUDIT),
    "GET /api/v1/sharing/corrections/settings": rule(SIGNED_IN),
    "PUT /api/v1/sharing/corrections/settings": rule(OPERATOR, json={"working_days": 5}),
    "GET /api/v1/sharing/corrections/{correction_id}": rule(SIGNED_IN, why="非本部门的纠错按不存在处理"),
    "POST /api/v1/sharing/corrections/{correction_id}/answer": rule(
        CORRECTION_ANSWER, json={"decision": "confirm"}, why="部门数据管理员只能答复本部门资源的纠错"
    ),
    # statistics of use: every signed-in role, each department its own share
    "GET /api/v1/sharing/stats/usage": rule(SIGNED_IN, why="部门只看到本部门提供或使用的调用"),
    "GET /sharing/corrections": rule(SIGNED_IN),
    "POST /sharing/corrections": rule(CORRECTION_REPORT, form={"resource_id": "0", "note": "矩阵"}),
    "GET /sharing/corrections/{correction_id}": rule(SIGNED_IN),
    "POST /sharing/corrections/{correction_id}/answer": rule(CORRECTION_ANSWER, form={"decision": "confirm"}),
    "GET /sharing/stats": rule(SIGNED_IN),
    # share requests (共享申请): consumer departments (users and stewards) ask; the provider's steward or an
    # operator answers; operators coordinate and set the deadline. Objects #999999 do not exist: whoever is
    # let in gets a 404, whoever is not a 403 first
    "POST /api/v1/sharing/requests": rule(
        {ST, CO},
        json={"resource_id": 999999, "purpose": "矩阵", "items": ["gmsfhm"], "period_end": "2099-12-31"},
        why="提供部门对自己的资源会得到 409，对不存在的资源 404",
    ),
    "GET /api/v1/sharing/requests": rule(SIGNED_IN, why="各部门只看到本部门提出或需答复的申请"),
    "GET /api/v1/sharing/requests/overdue": rule(AUDIT),
    "GET /api/v1/sharing/requests/{request_id}": rule(SIGNED_IN, why="非本部门的申请 403"),
    "POST /api/v1/sharing/requests/{request_id}/approve": rule({OP, ST}, json={}),
    "POST /api/v1/sharing/requests/{request_id}/refuse": rule({OP, ST}, json={"reason": "矩阵"}),
    "POST /api/v1/sharing/requests/{request_id}/withdraw": rule({ST, CO}),
    "POST /api/v1/sharing/requests/{request_id}/coordinate": rule(OPERATOR, json={"note": "矩阵"}),
    "GET /api/v1/sharing/settings": rule(SIGNED_IN),
    "PUT /api/v1/sharing/settings": rule(OPERATOR, json={"answer_days": 10, "remind_days": 2}),
    "GET /api/v1/sharing/grants": rule(SIGNED_IN, why="各部门只看到本部门提供或使用的授权"),
    "POST /api/v1/sharing/grants/{grant_id}/revoke": rule({OP, ST}, json={"reason": "矩阵"}),
    # applications (应用) and their keys: their own department; keys are issued by a person signed in
    "GET /api/v1/sharing/applications": rule(SIGNED_IN, why="各部门只看到本部门的应用"),
    "POST /api/v1/sharing/applications": rule(
        {OP, ST, CO}, json={"name": "矩阵应用"}, why="平台管理员须指明部门（422）"
    ),
    "GET /api/v1/sharing/applications/{application_id}": rule(SIGNED_IN),
    "PATCH /api/v1/sharing/applications/{application_id}": rule({OP, ST, CO}, json={"description": "矩阵"}),
    "POST /api/v1/sharing/applications/{application_id}/retire": rule({OP, ST, CO}),
    "GET /api/v1/sharing/applications/{application_id}/keys": rule(SIGNED_IN),
    "POST /api/v1/sharing/applications/{application_id}/keys": rule(
        (), json={"name": "矩阵"}, why="密钥不能发放密钥：只能登录后在页面上发放"
    ),
    "POST /api/v1/sharing/applications/{application_id}/keys/{api_key_id}/revoke": rule({OP, ST, CO}),
    # subscriptions (订阅推送): made by the grant's consumer department; operators may cancel any
    "POST /api/v1/subscriptions": rule(
        {ST, CO} | APPS,
        json={"grant_id": 999999, "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
        why="须为被授权部门：他部门的授权 403，不存在的 404",
    ),
    "GET /api/v1/subscriptions": rule(SIGNED_IN | APPS, why="各部门只看到本部门的订阅"),
    "GET /api/v1/subscriptions/{subscription_id}": rule(SIGNED_IN | APPS, why="非本部门的订阅 403"),
    "POST /api/v1/subscriptions/{subscription_id}/cancel": rule({OP, ST, CO} | APPS),
    # data services (数据服务): only a consumer department holding a live grant reads. The matrix resource's
    # grant to 民政局 names its application, so only that application's key reads; the rest get 403
    # (grant_application_forbidden for 民政局's own keys, grant_missing for 市公安局, role_forbidden)
    "GET /api/v1/data/{ref:path}/records": rule({APP}, why="授权列明了应用：只有该应用的密钥可以调用"),
    "POST /api/v1/data/{ref:path}/query": rule({APP}, json={"filters": [], "limit": 10}),
    "POST /api/v1/data/{ref:path}/verify": rule({APP}, json={"key": ["1"], "values": {"gmsfhm": "1"}}),
    "GET /api/v1/data/{ref:path}/export": rule({APP}),
    "GET /api/v1/data/{ref:path}/changes": rule({APP}),
    # share requests, grants, applications: pages (same rules as their API; #999999 objects do not exist)
    "GET /sharing/requests": rule(SIGNED_IN, why="各部门只看到本部门提出或需答复的申请"),
    "GET /sharing/requests/new": rule({ST, CO}, why="resource_id 缺省：放行后 422"),
    "POST /sharing/requests/new": rule({ST, CO}, form={"resource_id": "999999"}),
    "GET /sharing/requests/{request_id}": rule(SIGNED_IN),
    "POST /sharing/requests/{request_id}/approve": rule({OP, ST}),
    "POST /sharing/requests/{request_id}/refuse": rule({OP, ST}, form={"reason": "矩阵"}),
    "POST /sharing/requests/{request_id}/withdraw": rule({ST, CO}),
    "POST /sharing/requests/{request_id}/coordinate": rule(OPERATOR, form={"note": "矩阵"}),
    "GET /sharing/grants": rule(SIGNED_IN),
    "POST /sharing/grants/{grant_id}/revoke": rule({OP, ST}, form={"reason": "矩阵"}),
    "GET /sharing/applications": rule(SIGNED_IN),
    "POST /sharing/applications": rule({OP, ST, CO}, form={"name": "矩阵页面应用"}),
    "POST /sharing/applications/{application_id}/keys": rule({ST, CO}, form={"name": "矩阵"}),
    "POST /sharing/applications/{application_id}/retire": rule({OP, ST, CO}),
    "POST /sharing/applications/{application_id}/keys/{api_key_id}/revoke": rule({OP, ST, CO}),
    # subscriptions: pages (same rules as their API; providers' stewards also read those to their resources)
    "GET /sharing/subscriptions": rule(SIGNED_IN, why="各部门只看到本部门的订阅和订阅本部门资源的"),
    "POST /sharing/subscriptions": rule(
        {ST, CO}, form={"grant_id": "999999", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}
    ),
    "GET /sharing/subscriptions/{subscription_id}": rule(SIGNED_IN, why="非本部门的订阅 403"),
    "POST /sharing/subscriptions/{subscription_id}/cancel": rule({OP, ST, CO}),
}

PATH_PARAMS: dict[str, Callable[[Ctx], int]] = {
    "user_id": lambda c: c.victim_id,
    "api_key_id": lambda c: c.spare_key_id,
    "key_id": lambda c: c.spare_key_id,
    "event_id": lambda c: c.event_id,
    "system_id": lambda c: c.system_id,
    "department_id": lambda c: c.department_id,
    "filing_id": lambda c: c.filing_id,
    "resource_id": lambda c: c.resource_id,
    "number": lambda c: 1,
    "key": lambda c: c.element_id,  # elements and code sets take an id or an identifier; a miss is a 404
    "element_id": lambda c: c.element_id,
    "code_set_id": lambda c: c.code_set_id,
    "load_id": lambda c: c.load_id,
    "source_id": lambda c: c.source_id,
    "mapping_id": lambda c: c.mapping_id,
    "request_id": lambda c: 999999,  # none exists
    "grant_id": lambda c: 999999,
    "application_id": lambda c: 999999,
    "subscription_id": lambda c: 999999,  # none exists
    "correction_id": lambda c: 0,  # none exists: whoever is let in gets a 404
    "ref": lambda c: c.resource_id,  # data services take a resource code or number
}


def app_routes(app: FastAPI) -> set[str]:
    """``METHOD /path`` for every route the app answers (HEAD is GET's shadow)."""
    try:  # FastAPI >= 0.13x keeps included routers nested in app.routes
        from fastapi.routing import iter_route_contexts

        pairs = [(c.path, c.methods) for c in iter_route_contexts(app.routes)]
    except ImportError:
        pairs = [(getattr(r, "path", None), getattr(r, "methods", None)) for r in app.routes]
    return {f"{m} {path}" for path, methods in pairs if path and methods for m in methods if m != "HEAD"}


def test_every_route_has_a_rule(app: FastAPI) -> None:
    routes = app_routes(app)
    missing = sorted(routes - RULES.keys())
    assert not missing, (
        "这些路由没有写进角色矩阵（tests/web/test_role_matrix.py 的 RULES），请写明哪些角色可以调用：\n  "
        + "\n  ".join(missing)
    )
    stale = sorted(RULES.keys() - routes)
    assert not stale, "角色矩阵中这些规则对应的路由已不存在，请删除：\n  " + "\n  ".join(stale)
    unknown = {p for key in routes for p in re.findall(r"{(\w+)", key)} - PATH_PARAMS.keys()
    assert not unknown, f"路径参数没有取值规则（PATH_PARAMS）：{sorted(unknown)}"
    # a rule names only known callers; application keys only on the API, dead keys nowhere
    odd = sorted(
        key
        for key, rule_ in RULES.items()
        if rule_.allowed - {*WHO, *KEY_KINDS}
        or rule_.allowed & DEAD_KEYS
        or (rule_.allowed & APPS and not key.split(" ", 1)[1].startswith("/api/"))
    )
    assert not odd, "这些规则的调用方不对（未知名称、失效密钥或页面上的应用密钥）：\n  " + "\n  ".join(odd)


def test_a_new_endpoint_without_a_rule_fails_by_name(app: FastAPI) -> None:
    @app.post("/api/v1/brand-new-thing", summary="新接口")
    def brand_new_thing() -> dict[str, str]:
        return {}

    with pytest.raises(AssertionError, match="POST /api/v1/brand-new-thing"):
        test_every_route_has_a_rule(app)


def users_of(org: Org) -> dict[str, User]:
    return {
        OP: org.operator,
        ST: org.steward,
        AU: org.auditor,
        CO: org.consumer,
        ST_ELSEWHERE: org.civil_steward,
    }


def _context(session: Session, org: Org, role: str, tmp_path: Path) -> Ctx:
    system = InformationSystem(
        code="MX-1",
        name="矩阵用系统",
        department_id=org.police.id,
        description="矩阵测试用的系统",
        **SYSTEM_FIELDS,
    )
    session.add(system)
    session.flush()
    target = IntegrationTarget(department_id=org.police.id, name="矩阵用大系统")
    filing = Filing(system_id=system.id, kind="om", fiscal_year=2025, amount=Decimal("8"))
    session.add_all([target, filing])
    session.flush()
    event = audit.record(session, None, "test.matrix", summary="矩阵用事件")
    elements = load_national_standards(session) and {
        e.identifier: e for e in session.scalars(select(DataElement))
    }
    operator = org.principal(org.operator)
    resource = catalog_service.save_resource(
        session,
        operator,
        ResourceIn.model_validate({**_resource_json_for(org.police.id), "name": "矩阵用资源"}),
    )
    catalog_workflow.submit(session, operator, resource.id)
    catalog_workflow.publish(session, operator, resource.id)
    code_set = session.scalars(select(CodeSet).order_by(CodeSet.id)).first()
    assert code_set is not None
    # loaded for real, so the data services have records to serve under the grant below
    csv = write(tmp_path, "矩阵.csv", ["公民身份号码", person_id(1), person_id(2)])
    load = load_file(session, org.principal(org.steward), resource, csv)
    assert load.status == "succeeded", load.error_message
    source = Source(
        resource_id=resource.id,
        name="矩阵数据源",
        kind="sql",
        config={"url": "sqlite://", "query": "SELECT 1"},
    )
    mapping = Mapping(resource_id=resource.id, name="矩阵映射")
    session.add_all([source, mapping])
    session.flush()
    caller = users_of(org).get(role, org.civil_steward)  # anonymous: any key will do
    spare = accounts.issue_api_key(session, org.principal(caller), "矩阵备用密钥").key
    keys = _keys_of_applications(session, org, resource)
    session.commit()
    return Ctx(
        org,
        role,
        org.police.id,
        system.id,
        target.id,
        filing.id,
        event.id,
        org.civil_steward.id,
        spare.id,
        resource.id,
        elements["DE0001"].id,
        code_set.id,
        load.id,
        source.id,
        mapping.id,
        keys,
    )


def _keys_of_applications(session: Session, org: Org, resource: Resource) -> dict[str, dict[str, str]]:
    """民政局's applications, a grant of the matrix resource naming two of them, and a key of each kind."""
    consumer = org.principal(org.consumer)
    granted, ungranted, retired = (
        applications.create_application(session, consumer, name=name)
        for name in ("矩阵应用", "矩阵无授权应用", "矩阵停用应用")
    )
    tokens = {
        kind: applications.issue_key(session, consumer, app.id, "矩阵").token
        for kind, app in ((APP, granted), (APP_UNGRANTED, ungranted), (RETIRED, retired))
    }
    revoked = applications.issue_key(session, consumer, granted.id, "矩阵已吊销")
    applications.revoke_key(session, consumer, granted.id, revoked.key.id)
    grants.create_grant(
        session,
        org.principal(org.operator),
        request=None,
        resource=resource,
        consumer_department_id=org.civil.id,
        items=["gmsfhm"],
        masking=None,
        application_ids=[granted.id, retired.id],
        purpose="矩阵用授权",
        delivery="api",
        starts_on=clock.today() - timedelta(days=1),
        expires_on=clock.today() + timedelta(days=365),
        daily_quota=None,
    )
    applications.retire_application(session, consumer, retired.id)
    tokens |= {REVOKED: revoked.token, UNKNOWN: new_api_key()[0], GARBLED: tokens[APP][:-4]}
    return {kind: {"Authorization": f"Bearer {token}"} for kind, token in tokens.items()}


def _resource_json_for(department_id: int) -> dict[str, Any]:
    items = [
        {"name": "公民身份号码", "element_identifier": "DE0001", "column_name": "gmsfhm", "is_key": True}
    ]
    return {"department_id": department_id, **RESOURCE_FIELDS, "items": items}


@dataclass
class Caller:
    """One role's way in: its API key for /api/v1, its signed-in browser for pages."""

    app: FastAPI
    client: TestClient
    role: str
    api: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def sign_in(self, client: TestClient) -> str:
        if self.role == ANON:
            page = client.get("/login")
            found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert found
            return found.group(1)
        return login(client, USERNAMES[self.role])

    def call(self, key: str, rule: Rule, ctx: Ctx) -> httpx.Response:
        method, template = key.split(" ", 1)
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: str(PATH_PARAMS[m.group(1)](ctx)), template)
        is_api = path.startswith("/api/")
        client, csrf = self.client, self.csrf
        if rule.fresh_session:
            client = TestClient(self.app, base_url="http://testserver")
            csrf = self.sign_in(client)
        headers = dict(self.api) if is_api else {"Accept": "text/html"}
        kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
        if rule.json is not None:
            kwargs["json"] = rule.json(ctx) if callable(rule.json) else rule.json
        if method != "GET" and not is_api:
            headers["X-CSRF-Token"] = csrf
            form = rule.form(ctx) if callable(rule.form) else dict(rule.form or {})
            kwargs["data"] = {**form, "csrf_token": csrf}
        if rule.files:
            kwargs["files"] = rule.files
        return client.request(method, path, **kwargs)


def refused(response: httpx.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.is_redirect and response.headers.get("location", "").startswith("/login?next=")


def mismatch(key: str, who: str, allowed: bool, response: httpx.Response) -> str | None:
    """What is wrong with ``response`` to ``who`` calling ``key``, or None."""
    if allowed and refused(response):
        return f"{key}: 应允许{who}，却被拒绝（{response.status_code} {response.text[:120]}）"
    if not allowed and not refused(response):
        return f"{key}: 应拒绝{who}，却返回 {response.status_code}"
    if response.status_code >= 500:
        return f"{key}: 服务器错误 {response.status_code}"
    return None


@pytest.mark.parametrize("role", WHO)
def test_each_role_may_call_exactly_its_routes(
    role: str, app: FastAPI, client: TestClient, org: Org, session: Session, tmp_path: Path
) -> None:
    ctx = _context(session, org, role, tmp_path)
    caller = Caller(app, client, role)
    if role != ANON:
        caller.api = api_headers(session, users_of(org)[role])
    # API first, then the browser; signing out last, since it ends every session of the user
    routes = sorted(
        app_routes(app) & RULES.keys(),
        key=lambda k: (RULES[k].fresh_session, not k.split(" ", 1)[1].startswith("/api/"), k),
    )
    problems: list[str] = []
    signed_in = False
    for key in routes:
        if not key.split(" ", 1)[1].startswith("/api/") and not signed_in and not RULES[key].fresh_session:
            caller.csrf, signed_in = caller.sign_in(client), True  # API first, then the browser
        rule_ = RULES[key]
        try:
            response = caller.call(key, rule_, ctx)
        except Exception as exc:  # a crash is a finding too, whatever the rule says
            problems.append(f"{key}: 服务器异常 {exc.__class__.__name__}: {exc}")
            continue
        found = mismatch(key, role, may(role, rule_), response)
        if found:
            problems.append(found)
    assert not problems, f"角色 {role} 与规则不符：\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_each_key_kind_may_call_exactly_its_api_routes(
    kind: str, app: FastAPI, client: TestClient, org: Org, session: Session, tmp_path: Path
) -> None:
    """Keys that are not a person's own, against every /api/v1 route; a refusal must also say why:
    a dead key 401 ``api_key_invalid``, an application's key outside its scope 403 ``api_key_scope``."""
    ctx = _context(session, org, kind, tmp_path)
    caller = Caller(app, client, kind, api=ctx.keys[kind])
    routes = sorted(k for k in app_routes(app) & RULES.keys() if k.split(" ", 1)[1].startswith("/api/"))
    problems: list[str] = []
    for key in routes:
        rule_ = RULES[key]
        try:
            response = caller.call(key, rule_, ctx)
        except Exception as exc:  # a crash is a finding too, whatever the rule says
            problems.append(f"{key}: 服务器异常 {exc.__class__.__name__}: {exc}")
            continue
        allowed = kind in rule_.allowed
        found = mismatch(key, kind, allowed, response)
        if found:
            problems.append(found)
            continue
        if allowed or (kind not in DEAD_KEYS and rule_.allowed & APPS):
            continue  # let in, or inside the scope and refused by the grant with a code of its own
        expected = "api_key_invalid" if kind in DEAD_KEYS else "api_key_scope"
        if response.json().get("code") != expected:
            problems.append(
                f"{key}: 应以 {expected} 拒绝{kind}，却是 {response.status_code} {response.text[:120]}"
            )
    assert not problems, f"密钥 {kind} 与规则不符：\n  " + "\n  ".join(problems)
