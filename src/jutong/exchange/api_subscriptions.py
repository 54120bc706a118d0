"""API: subscriptions (订阅推送) under /api/v1/subscriptions — create, list, read, cancel.

Who may: people of the grant's consumer department (consumers and its stewards) create and see their
department's subscriptions and cancel them; operators and auditors see all, operators may cancel any.
The webhook secret is in the answer to the creation only. Every read is audited (``record_read``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from jutong.exchange import delivery as _delivery  # noqa: F401  (registers the delivery job and tick)
from jutong.exchange import subscriptions
from jutong.sharing.models import Subscription
from jutong.web.deps import CurrentPrincipal, DbSession, record_read

SubscriptionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="订阅编号")]

router = APIRouter(prefix="/subscriptions", tags=["订阅推送"], dependencies=[Depends(record_read)])


class SubscriptionIn(BaseModel):
    grant_id: int = Field(description="授权编号", ge=1, le=2**31 - 1)
    kind: Literal["webhook", "table"] = Field(description="webhook：HTTP 推送；table：库表推送")
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="webhook：接收推送的网址；table：使用方数据库的 SQLAlchemy URL",
    )
    table: str | None = Field(
        default=None, max_length=63, description="库表推送的目标表名（不存在时自动创建）"
    )
    application_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="接收推送的应用（须在授权中列明）"
    )
    timeout: float | None = Field(default=None, gt=0, le=60, description="每次推送等待答复的秒数，默认 10")


class SubscriptionOut(BaseModel):
    id: int
    grant_id: int
    application_id: int | None
    kind: str
    target: dict[str, Any]
    status: str
    acked_version: int
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    last_delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            id=sub.id,
            grant_id=sub.grant_id,
            application_id=sub.application_id,
            kind=sub.kind,
            target=subscriptions.public_target(sub),
            status=sub.status,
            acked_version=sub.acked_version,
            attempts=sub.attempts,
            next_attempt_at=sub.next_attempt_at,
            last_error=sub.last_error,
            last_delivered_at=sub.last_delivered_at,
            created_at=sub.created_at,
        )


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str = Field(description="HTTP 推送的签名密钥（HMAC-SM3），只在创建时显示一次，请妥善保存")


@router.post("", status_code=201, summary="创建订阅")
def create(body: SubscriptionIn, session: DbSession, principal: CurrentPrincipal) -> SubscriptionCreatedOut:
    created = subscriptions.create_subscription(
        session,
        principal,
        grant_id=body.grant_id,
        kind=body.kind,
        url=body.url,
        table=body.table,
        application_id=body.application_id,
        timeout=body.timeout,
    )
    out = SubscriptionOut.of(created.subscription).model_dump()
    return SubscriptionCreatedOut(**out, secret=created.secret)


@router.get("", summary="订阅列表")
def list_all(
    session: DbSession,
    principal: CurrentPrincipal,
    grant_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[SubscriptionOut]:
    return [
        SubscriptionOut.of(s) for s in subscriptions.list_subscriptions(session, principal, grant_id=grant_id)
    ]


@router.get("/{subscription_id}", summary="订阅详情")
def get_one(
    subscription_id: SubscriptionId, session: DbSession, principal: CurrentPrincipal
) -> SubscriptionOut:
    return SubscriptionOut.of(subscriptions.get_subscription(session, principal, subscription_id))


@router.post("/{subscription_id}/cancel", summary="取消订阅")
def cancel(
    subscription_id: SubscriptionId, session: DbSession, principal: CurrentPrincipal
) -> SubscriptionOut:
    sub = subscriptions.cancel_subscription(session, principal, subscription_id)
    return SubscriptionOut.of(sub)
