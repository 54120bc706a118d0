"""Settings read from the environment (prefix ``JUTONG_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JUTONG_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="嵌入式数据库与上传文件所在目录")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL；缺省为 data_dir 下的 SQLite 文件 jutong.db"
    )
    secret_key: str = Field(
        default="", description="会话签名密钥；缺省时在 data_dir 下生成并保存，重启不失效"
    )
    session_max_age_seconds: int = Field(default=8 * 3600, description="登录会话有效期（秒）")
    audit_seal_interval_seconds: float = Field(default=5.0, description="审计日志封存批次的间隔（秒）")
    audit_seal_batch_size: int = Field(default=500, description="每个封存批次最多包含的事件数")
    fast_lookups: bool = Field(
        default=True, description="PostgreSQL 上按主键查询走快速通道（同样的校验与审计，更高吞吐）"
    )
    job_interval_seconds: float = Field(default=2.0, description="后台任务（归集、定时拉取）轮询间隔（秒）")
    ingest_max_upload_bytes: int = Field(
        default=1024 * 1024 * 1024, description="页面和 API 上传数据文件的大小上限（字节）；命令行不受此限"
    )
    cookie_secure: bool = Field(default=False, description="会话 Cookie 是否只走 HTTPS")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'jutong.db').resolve()}"

    def resolved_secret_key(self) -> str:
        """The session key: from the environment, else one kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.write_text(key)
        key_file.chmod(0o600)
        return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
