"""Every router of the platform, in one place, so a new one is never forgotten."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from jutong.catalog import api as catalog_api
    from jutong.catalog import views as catalog_views
    from jutong.exchange import api as exchange_api
    from jutong.exchange import api_subscriptions as exchange_api_subscriptions
    from jutong.exchange import views_subscriptions as exchange_views_subscriptions
    from jutong.ingest import api as ingest_api
    from jutong.ingest import views as ingest_views
    from jutong.registry import api as registry_api
    from jutong.registry import views as registry_views
    from jutong.sharing import api_corrections as sharing_api_corrections
    from jutong.sharing import api_requests as sharing_api_requests
    from jutong.sharing import api_stats as sharing_api_stats
    from jutong.sharing import views_corrections as sharing_views_corrections
    from jutong.sharing import views_requests as sharing_views_requests
    from jutong.sharing import views_stats as sharing_views_stats
    from jutong.web import audit_api, audit_views, views

    # the data services first: they take most of the traffic, and routes are matched in order
    app.include_router(exchange_api.router, prefix="/api/v1")
    app.include_router(views.router)
    app.include_router(audit_views.router)
    app.include_router(registry_views.router)
    app.include_router(catalog_views.router)
    app.include_router(ingest_views.router)
    app.include_router(sharing_views_requests.router)
    app.include_router(sharing_views_corrections.router)
    app.include_router(sharing_views_stats.router)
    app.include_router(exchange_views_subscriptions.router)
    app.include_router(audit_api.router, prefix="/api/v1")
    app.include_router(registry_api.router, prefix="/api/v1")
    app.include_router(catalog_api.router, prefix="/api/v1")
    app.include_router(ingest_api.router, prefix="/api/v1")
    app.include_router(sharing_api_requests.router, prefix="/api/v1")
    app.include_router(sharing_api_corrections.router, prefix="/api/v1")
    app.include_router(sharing_api_stats.router, prefix="/api/v1")
    app.include_router(exchange_api_subscriptions.router, prefix="/api/v1")
