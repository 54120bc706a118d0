"""Benchmark: loading population rows, mapped and validated, against the fastest raw load of the same file.

    .venv/bin/python bench/ingest.py [--rows 10000000] [--small 1000000] [--backend both|postgresql|sqlite]

For each size (``--small`` and ``--rows``) the deterministic generator (``jutong.demo.datagen``) writes one
CSV of 常住人口基础信息 in 公安局's own style (sex 0/1, so the load maps it to GB/T 2261.1), no bad rows
(the raw baselines cannot reject any), and a change file for an incremental load that updates 1% of the
keys, inserts 0.5% and deletes 0.1%. Then, per backend, in the same run:

- **PostgreSQL baseline**: ``COPY`` of the file into an empty table with the same typed columns, then its
  primary key built (the fastest raw way; keeping the index during COPY is about 3× slower).
- **SQLite baseline**: plain ``executemany`` of the file's rows (``csv.reader``) into a table with the same
  primary key, in one transaction.
- **jutong**: ``jutong ingest CODE FILE --mapping 公安人口库 --format json`` in a child process (read, map,
  normalize, validate every item, hash, stage, key index, version, baseline), its peak RSS sampled every
  50 ms (process and children); then ``--mode incremental`` with the change file.

Targets: PostgreSQL ≥ 50% of the raw rows/s, SQLite ≥ 80%, peak RSS < 2 GB and flat from 1M to 10M rows,
incremental load of 1% < 1/5 of the full load's time. PostgreSQL comes from ``JUTONG_BENCH_POSTGRES_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); the bench creates and drops its
own databases there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psutil
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from jutong.catalog import service as catalog_service
from jutong.catalog import workflow
from jutong.catalog.standards import load_national_standards
from jutong.core.auth import CLI_PRINCIPAL
from jutong.core.db import make_engine
from jutong.core.migrate import upgrade
from jutong.demo import datagen
from jutong.demo.catalog import POPULATION, REGISTRY, _input
from jutong.ingest.models import Mapping
from jutong.registry import accounts

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MAPPING = "公安人口库"
COLUMNS = ("gmsfhm", "xm", "xbdm", "mzdm", "csrq", "jzdz", "jzdxzqh", "gxsj")
PG_TYPES = ("TEXT", "TEXT", "TEXT", "TEXT", "DATE", "TEXT", "TEXT", "TIMESTAMP")


def log(message: str) -> None:
    print(message, flush=True)


# ---- files ------------------------------------------------------------------------------------


def make_files(rows: int, folder: Path) -> tuple[Path, Path, dict[str, Any]]:
    full = folder / f"population_{rows}.csv"
    delta = folder / f"population_{rows}_changes.csv"
    options = datagen.DataOptions(rows=rows, bad_share=0.0, fixable_share=0.0, style=datagen.SexStyle.ga)
    if not full.exists():
        began = time.perf_counter()
        datagen.generate(full, options)
        log(f"  生成 {rows:,} 行 {full.stat().st_size / 2**20:,.0f} MB：{time.perf_counter() - began:.1f} s")
    manifest = datagen.generate_changes(
        delta, options, datagen.ChangeOptions(base_rows=rows, change_share=0.01)
    )
    return full, delta, manifest


# ---- the platform's database -------------------------------------------------------------------


def prepare(url: str) -> str:
    """A fresh platform database with 公安局 and its published population resource; returns its code."""
    engine = make_engine(url)
    upgrade(engine)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        load_national_standards(session)
        accounts.upsert_region(session, "340000", "示范省")
        accounts.upsert_region(session, "341000", "示范市", "340000")
        police = accounts.upsert_department(session, "GA", "示范市公安局", "341000")
        demo = next(r for r in REGISTRY if r.name == POPULATION)
        resource_in = _input(demo, police.id, {}, {}).model_copy(
            update={"system_code": None, "related_codes": []}
        )
        resource = catalog_service.save_resource(session, CLI_PRINCIPAL, resource_in)
        workflow.submit(session, CLI_PRINCIPAL, resource.id)
        workflow.publish(session, CLI_PRINCIPAL, resource.id)
        session.add(Mapping(resource_id=resource.id, name=MAPPING, values={"xbdm": {"0": "1", "1": "2"}}))
        session.commit()
        code = resource.code
    engine.dispose()
    return code


def rss(pid: int) -> int:
    """Resident memory of a process and all its children, in bytes."""
    process = psutil.Process(pid)
    return process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))


class PeakRss:
    """The highest ``rss(pid)`` seen while the block runs, sampled every 50 ms (``.start`` is the first)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self.peak = rss(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            with suppress(psutil.Error):  # the process may end between two samples
                self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def run_cli(url: str, args: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run ``jutong ingest`` as a child; returns its summary, wall seconds and peak RSS (MB)."""
    env = {**os.environ, "JUTONG_DATABASE_URL": url, "JUTONG_DATA_DIR": tempfile.gettempdir()}
    jutong = str(Path(sys.executable).with_name("jutong"))
    began = time.perf_counter()
    child = subprocess.Popen(
        [jutong, "ingest", *args, "--format", "json"], env=env, stdout=subprocess.PIPE, text=True
    )
    with PeakRss(child.pid) as memory:
        out, _ = child.communicate()
    wall = time.perf_counter() - began
    summary = json.loads(out.strip().splitlines()[-1])
    if summary.get("status") != "succeeded":
        raise SystemExit(f"jutong ingest 失败：{summary}")
    return summary, wall, memory.peak / 2**20


# ---- baselines ---------------------------------------------------------------------------------


def pg_baseline(admin_url: str, database: str, path: Path) -> float:
    """COPY into an empty typed table, then build its primary key; returns seconds."""
    conninfo = make_url(admin_url).set(database=database).render_as_string(hide_password=False)
    conninfo = conninfo.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=False) as conn:
        columns = ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, PG_TYPES, strict=True))
        conn.execute(f"DROP TABLE IF EXISTS raw_population; CREATE TABLE raw_population ({columns})")
        conn.commit()
        began = time.perf_counter()
        with conn.cursor() as cursor, path.open("rb") as source:
            with cursor.copy("COPY raw_population FROM STDIN (FORMAT csv, HEADER true)") as copy:
                while chunk := source.read(8 * 2**20):
                    copy.write(chunk)
            cursor.execute("ALTER TABLE raw_population ADD PRIMARY KEY (gmsfhm)")
        conn.commit()
        seconds = time.perf_counter() - began
        conn.execute("DROP TABLE raw_population")
        conn.commit()
    return seconds


def sqlite_baseline(folder: Path, path: Path) -> float:
    """executemany of the file's rows into a table with the same primary key, in one transaction."""
    db = folder / "baseline.db"
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE raw_population (gmsfhm TEXT, xm TEXT, xbdm TEXT, mzdm TEXT, csrq TEXT, jzdz TEXT, "
        "jzdxzqh TEXT, gxsj TEXT, PRIMARY KEY (gmsfhm))"
    )
    began = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        next(reader)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw_population VALUES (?, ?, ?, ?, ?, ?, ?, ?)", reader)
        conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    db.unlink(missing_ok=True)
    return seconds


# ---- one backend, one size --------------------------------------------------------------------


def measure(backend: str, rows: int, full: Path, delta: Path, folder: Path, pg_admin: str) -> dict[str, Any]:
    if backend == "postgresql":
        database = "jutong_bench_ingest"
        admin = make_engine(pg_admin)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        url = make_url(pg_admin).set(database=database).render_as_string(hide_password=False)
        baseline = pg_baseline(pg_admin, database, full)
    else:
        (folder / "jutong.db").unlink(missing_ok=True)
        url = f"sqlite:///{folder / 'jutong.db'}"
        baseline = sqlite_baseline(folder, full)
    code = prepare(url)
    loaded, wall, peak = run_cli(url, [code, str(full), "--mapping", MAPPING])
    changed, _wall_inc, peak_inc = run_cli(
        url, [code, str(delta), "--mode", "incremental", "--mapping", MAPPING]
    )
    if backend == "postgresql":
        with make_engine(pg_admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    else:
        (folder / "jutong.db").unlink(missing_ok=True)
    return {
        "backend": backend,
        "rows": rows,
        "baseline_s": baseline,
        "load_s": loaded["seconds"],
        "wall_s": wall,
        "peak_mb": peak,
        "incremental_s": changed["seconds"],
        "incremental_peak_mb": peak_inc,
        "incremental_timings": changed.get("timings"),
        "incremental": {k: changed[k] for k in ("read", "inserted", "updated", "deleted", "unchanged")},
        "timings": loaded.get("timings"),
        "loaded": loaded["loaded"],
        "rejected": loaded["rejected"],
    }


def report(r: dict[str, Any], target: float) -> None:
    raw = r["rows"] / r["baseline_s"]
    ours = r["rows"] / r["load_s"]
    name = "COPY + 主键" if r["backend"] == "postgresql" else "executemany"
    log(
        f"  {r['backend']:<10} {r['rows']:>11,} 行  基线（{name}）{raw:>9,.0f} 行/秒 {r['baseline_s']:7.1f} s | "
        f"jutong {ours:>9,.0f} 行/秒 {r['load_s']:7.1f} s（含启动 {r['wall_s']:.1f} s），"
        f"峰值内存 {r['peak_mb']:,.0f} MB | 比值 {ours / raw:.0%}（目标 ≥ {target:.0%}）"
    )
    log(f"  {'':<10} 各阶段（秒）：{r['timings']}")
    log(
        f"  {'':<10} 增量 1%：{r['incremental_s']:.1f} s = 全量的 {r['incremental_s'] / r['load_s']:.1%}"
        f"（目标 < 20%），{r['incremental']}，峰值内存 {r['incremental_peak_mb']:,.0f} MB"
    )
    log(f"  {'':<10} 增量各阶段（秒）：{r['incremental_timings']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=1_000_000, help="较小的规模，用来比较内存是否随文件增长")
    parser.add_argument("--backend", choices=("both", "postgresql", "sqlite"), default="both")
    parser.add_argument("--files", type=Path, default=None, help="生成文件存放目录（缺省为临时目录，可复用）")
    args = parser.parse_args()
    pg_admin = os.environ.get("JUTONG_BENCH_POSTGRES_URL", DEFAULT_PG)
    folder = args.files or Path(tempfile.mkdtemp(prefix="jutong_bench_ingest_"))
    folder.mkdir(parents=True, exist_ok=True)
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    results = []
    for rows in sorted({args.small, args.rows}):
        log(f"规模 {rows:,} 行：")
        full, delta, _ = make_files(rows, folder)
        for backend in backends:
            result = measure(backend, rows, full, delta, folder, pg_admin)
            report(result, 0.5 if backend == "postgresql" else 0.8)
            results.append(result)
    for backend in backends:
        peaks = [(r["rows"], r["peak_mb"]) for r in results if r["backend"] == backend]
        if len(peaks) == 2:
            log(
                f"{backend} 内存：{peaks[0][0]:,} 行 {peaks[0][1]:,.0f} MB → {peaks[1][0]:,} 行 {peaks[1][1]:,.0f} MB"
            )
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
