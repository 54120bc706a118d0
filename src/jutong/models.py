"""Import every domain's models so that one metadata holds the whole schema (Alembic, tests)."""

from jutong.catalog import models as catalog_models  # noqa: F401
from jutong.core import audit, jobs, options  # noqa: F401
from jutong.core.db import Base
from jutong.ingest import models as ingest_models  # noqa: F401
from jutong.registry import models as registry_models  # noqa: F401
from jutong.sharing import models as sharing_models  # noqa: F401

metadata = Base.metadata
