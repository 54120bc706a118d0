"""A load killed mid-way (``kill -9``, a power cut) loses nothing and can simply be run again.

The story: 公安局's steward loads a small population file, then starts a big one with ``jutong ingest``;
half-way through, the process is killed. Readers still see the small file's data, whole; no half-built
table is left; the load stays ``running`` (nobody could record its end) until the platform notices
that its process is gone and marks it failed with ``load_interrupted``; the same command run again
loads the big file with the counts its manifest promises.

A real child process on a real database file / PostgreSQL database, killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from jutong.core.config import get_settings
from jutong.core.db import make_engine
from jutong.demo import datagen
from jutong.demo.datagen import DataOptions
from jutong.ingest import pipeline
from jutong.ingest.models import Load
from tests.conftest import Org, api_headers
from tests.ingest.conftest import Resources
from tests.ingest.e2e_platform import (
    POLICE_MAPPING,
    data_state,
    live_rows,
    loads,
    platform_database,
    publish_population,
    reject_count,
    staging_tables,
)

pytestmark = pytest.mark.xdist_group("subprocess")

SMALL, BIG = 3000, 300_000  # the big file takes a few seconds: two batches of the CLI's 200,000 rows
FIRST_BATCH = "200,000 行"  # the progress bar after the first batch is checked and written
JUTONG = str(Path(sys.executable).with_name("jutong"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("killed")
    out = {}
    for name, rows in (("small", SMALL), ("big", BIG)):
        path = folder / f"常住人口_{rows}.csv"
        out[name] = (path, datagen.generate(path, DataOptions(rows=rows)))
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    with platform_database(request.param, tmp_path, "killed") as url:
        engine = make_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


def environment(url: str, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "JUTONG_DATABASE_URL": url,
        "JUTONG_DATA_DIR": str(folder),
        # the progress bar is drawn for a terminal only; the test reads it from a pipe
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
        "COLUMNS": "200",
    }


def ingest(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [JUTONG, "ingest", *args, "--format", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def running_load(engine: Engine, resource_id: int, after: int) -> Load | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalar(
            select(Load).where(Load.resource_id == resource_id, Load.id > after, Load.status == "running")
        )


def kill_mid_load(env: dict[str, str], engine: Engine, resource_id: int, after: int, args: list[str]) -> int:
    """Start ``jutong ingest``, SIGKILL it once its first batch is written; returns the load's id."""
    child = subprocess.Popen(
        [JUTONG, "ingest", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seen = bytearray()

    def drain() -> None:
        assert child.stderr is not None
        while chunk := child.stderr.read1(4096):  # type: ignore[attr-defined]
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        load = None
        while time.monotonic() < deadline and child.poll() is None:
            load = load or running_load(engine, resource_id, after)
            if load is not None and FIRST_BATCH.encode() in seen:
                break
            time.sleep(0.05)
        assert child.poll() is None, "归集在被终止前就结束了：" + seen.decode(errors="replace")[-500:]
        assert load is not None, "没有看到进行中的批次"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        return load.id
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        reader.join(timeout=5)


def test_a_load_killed_mid_way_leaves_the_previous_version_and_runs_again(
    platform: tuple[str, Engine], files: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    url, engine = platform
    env = environment(url, tmp_path)
    resource = publish_population(engine)
    (small, small_manifest), (big, big_manifest) = files["small"], files["big"]
    first = ingest(env, resource.code, str(small), "--mapping", POLICE_MAPPING)
    assert first["status"] == "succeeded" and first["data_version"] == 1
    before = live_rows(engine, resource.id)
    assert len(before) == small_manifest["expected"]["loaded"]

    killed = kill_mid_load(
        env, engine, resource.id, first["load_id"], [resource.code, str(big), "--mapping", POLICE_MAPPING]
    )

    # the readers' view: the first version, whole; nothing of the killed load visible anywhere
    assert live_rows(engine, resource.id) == before
    assert data_state(engine, resource.id) == (1, len(before))
    assert staging_tables(engine, resource.id) == []
    assert reject_count(engine, killed) == 0
    # nobody recorded the end of the load: it still says running, until the platform sees its process is gone
    (_, left) = loads(engine, resource.id)
    assert left.id == killed and left.status == "running" and left.data_version is None
    if engine.dialect.name == "sqlite":
        with Session(engine) as session:
            assert pipeline.recover_interrupted(session) == 1
            session.commit()
        (_, marked) = loads(engine, resource.id)
        assert marked.status == "failed" and marked.error_code == "load_interrupted"
        assert "上一版本" in marked.error_message and "重新运行" in marked.error_message
    # (on PostgreSQL the next command notices it: the story of an operator who simply runs it again)

    again = ingest(env, resource.code, str(big), "--mapping", POLICE_MAPPING)

    assert again["status"] == "succeeded" and again["data_version"] == 2
    assert {k: again[k] for k in ("read", "loaded", "rejected")} == big_manifest["expected"]
    assert again["inserted"] + again["updated"] + again["unchanged"] == again["loaded"]
    statuses = [(load.status, load.error_code) for load in loads(engine, resource.id)]
    assert statuses == [("succeeded", ""), ("failed", "load_interrupted"), ("succeeded", "")]
    assert data_state(engine, resource.id) == (2, big_manifest["expected"]["loaded"])
    assert staging_tables(engine, resource.id) == []


# ---- the pages after a killed load ------------------------------------------------------------------


def test_an_upload_after_a_killed_command_line_load_is_not_refused_as_in_progress(
    client: TestClient,
    session: Session,
    org: Org,
    resources: Resources,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One load at a time per resource: but a load whose process is gone is not in progress any more."""
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path)
    gone = subprocess.Popen(["true"])  # the killed ``jutong ingest``: a process of this host that has ended
    gone.wait()
    killed = pipeline.start_load(session, resources.population, org.principal(org.steward), mode="full")
    killed.stats = {"worker": f"{socket.gethostname()}:{gone.pid}"}
    session.commit()

    steward = api_headers(session, org.steward)
    queued = client.post(
        f"/api/v1/ingest/resources/{resources.population.id}/loads",
        headers=steward,
        files={"file": ("人口.csv", "公民身份号码,姓名\n".encode(), "text/csv")},
        data={"mode": "full"},
    )

    assert queued.status_code == 202, queued.text
    session.refresh(killed)
    assert killed.status == "failed" and killed.error_code == "load_interrupted"
