"""Benchmark: data services over HTTP — key lookups against 10M rows, and a streamed 1M-row CSV export.

    .venv/bin/python bench/exchange.py [--rows 10000000] [--export-rows 1000000] [--files DIR] [--reuse]
                                       [--workers 2] [--seconds 20] [--only lookup|export]

Needs ``wrk`` (Debian: ``apt-get install wrk``) and, for the datasette baseline, network access to PyPI once
(datasette is installed into ``DIR/datasette-venv``, not into the project).

**Lookups.** A PostgreSQL platform database holds 公安局's population resource (常住人口基础信息) loaded
by ``jutong ingest`` from the deterministic generator's file, and a grant to 人社局 of three items (ID number
masked, name masked, sex code) for one application. ``jutong serve --workers N`` serves it on 127.0.0.1; wrk
(2 threads) asks ``GET /api/v1/data/{code}/records?key=<ID number>`` with the application's API key for random
keys out of 100,000 sampled from the file, at 16 and then 64 connections. Every request takes the whole path:
API key, live grant, granted items only, masking, daily-quota counter, DataAccess row and audit event, committed
before the answer leaves. In the same run, on the same rows:

- **pgbench**, select-only: ``SELECT gmsfhm, xm, xbdm`` of the same table by the same keys (a key is picked by
  number from a side table of the 100,000 sampled keys), prepared statements, same client counts — what
  PostgreSQL alone gives, with no HTTP, no checks and no writes;
- **datasette** serving the same rows from SQLite (``-i`` immutable, its fastest mode) with the same lookup,
  ``/population/people/<ID number>.json``, same wrk settings.

Targets (issue 6): at least 2× datasette's requests/s, and p99 under 50 ms at 64 clients.

**Export.** ``GET /api/v1/data/{code}/export?format=csv`` of the whole granted view, read by a streaming
client, for ``--export-rows`` and a tenth of it; the server's peak RSS (all worker processes) is sampled
every 50 ms and printed next to its RSS before the export: memory must stay flat as the export grows. The
baseline is ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the same columns in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest as ingest_bench
from jutong.catalog.models import Resource
from jutong.core import clock
from jutong.core.auth import CLI_PRINCIPAL, Role
from jutong.core.db import make_engine
from jutong.ingest.models import ResourceData
from jutong.registry import accounts
from jutong.sharing import applications, grants

GRANTED = ["gmsfhm", "xm", "xbdm"]
MASKING = {"gmsfhm": "id_number", "xm": "name"}
SAMPLE_KEYS = 100_000
CLIENTS = (16, 64)
log = ingest_bench.log


# ---- the platform database --------------------------------------------------------------------


def pg_url(admin: str, database: str) -> str:
    return make_url(admin).set(database=database).render_as_string(hide_password=False)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def database_rows(url: str) -> int | None:
    try:
        engine = make_engine(url)
        with Session(engine) as session:
            rows = session.scalar(select(ResourceData.row_count))
        engine.dispose()
        return int(rows) if rows is not None else None
    except Exception:
        return None


def build_database(admin: str, database: str, rows: int, folder: Path, reuse: bool) -> tuple[str, str, str]:
    """A platform database with ``rows`` people loaded and granted; returns (url, resource code, API key)."""
    url = pg_url(admin, database)
    token_file = folder / f"{database}.key"
    if reuse and token_file.exists() and database_rows(url) == rows:
        code, token = token_file.read_text().split()
        log(f"  复用数据库 {database}（{rows:,} 行）")
        return url, code, token
    with make_engine(admin).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    full, _delta, _ = ingest_bench.make_files(rows, folder)
    code = ingest_bench.prepare(url)
    began = time.perf_counter()
    ingest_bench.run_cli(url, [code, str(full), "--mapping", ingest_bench.MAPPING])
    log(f"  归集 {rows:,} 行：{time.perf_counter() - began:.1f} s")
    token = grant_application(url, code)
    token_file.write_text(f"{code} {token}")
    return url, code, token


def grant_application(url: str, code: str) -> str:
    """人社局, its application and key, and a live grant of three items with masking; returns the key."""
    engine = make_engine(url)
    with Session(engine) as session:
        accounts.upsert_department(session, "RS", "示范市人力资源和社会保障局", "341000")
        user = accounts.create_user(
            session,
            username="rs_app_owner",
            password="bench-password-1",
            role=Role.consumer,
            department_code="RS",
            actor=CLI_PRINCIPAL,
        )
        owner = accounts.principal_for(user, via="cli")
        app = applications.create_application(session, owner, name="社保待遇资格认证")
        issued = applications.issue_key(session, owner, app.id, "压测")
        resource = session.scalars(select(Resource).where(Resource.code == code)).one()
        today = clock.today()
        grants.create_grant(
            session,
            CLI_PRINCIPAL,
            request=None,
            resource=resource,
            consumer_department_id=user.department_id,
            items=GRANTED,
            masking=MASKING,
            application_ids=[app.id],
            purpose="社会保险待遇资格认证",
            delivery="api",
            starts_on=today - timedelta(days=1),
            expires_on=today + timedelta(days=365),
            daily_quota=None,
        )
        session.commit()
        token = issued.token
    engine.dispose()
    return token


def data_table(url: str) -> str:
    engine = make_engine(url)
    with Session(engine) as session:
        name = session.scalars(select(ResourceData.table_name)).one()
    engine.dispose()
    return str(name)


def sample_keys(url: str, table: str, folder: Path) -> Path:
    """100,000 keys spread over the table, in a file for wrk and a side table for pgbench."""
    path = folder / f"keys_{table}.txt"
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        total = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # type: ignore[index]
        step = max(1, total // SAMPLE_KEYS)
        keys = [
            r[0]
            for r in conn.execute(
                f'SELECT gmsfhm FROM (SELECT gmsfhm, row_number() OVER () AS n FROM "{table}") s '
                f"WHERE n % {step} = 0 LIMIT {SAMPLE_KEYS}"
            )
        ]
        conn.execute("DROP TABLE IF EXISTS bench_keys")
        conn.execute("CREATE TABLE bench_keys (n INTEGER PRIMARY KEY, k TEXT NOT NULL)")
        with conn.cursor().copy("COPY bench_keys (n, k) FROM STDIN") as copy:
            for n, key in enumerate(keys, start=1):
                copy.write_row((n, key))
    path.write_text("\n".join(keys) + "\n")
    return path


# ---- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, path: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + path, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"服务未就绪：{base}{path}")


@contextmanager
def serving(args: list[str], env: dict[str, str], base: str, ready: str) -> Iterator[subprocess.Popen[bytes]]:
    logfile = (Path(tempfile.gettempdir()) / f"jutong_bench_server_{Path(args[0]).name}.log").open("ab")
    child = subprocess.Popen(args, env=env, start_new_session=True, stdout=logfile, stderr=logfile)
    try:
        wait_ready(base, ready)
        yield child
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        logfile.close()


def jutong_server(url: str, port: int, workers: int, folder: Path) -> tuple[list[str], dict[str, str]]:
    jutong = str(Path(sys.executable).with_name("jutong"))
    env = {**os.environ, "JUTONG_DATABASE_URL": url, "JUTONG_DATA_DIR": str(folder)}
    return [jutong, "serve", "--port", str(port), "--workers", str(workers)], env


def datasette_db(url: str, table: str, folder: Path, rows: int) -> Path:
    """The same rows in SQLite, as datasette would serve them (primary key = the resource's key)."""
    path = folder / f"datasette_{rows}.db"
    if path.exists():
        return path
    began = time.perf_counter()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    lite = sqlite3.connect(partial)
    lite.execute("PRAGMA journal_mode=OFF")
    lite.execute("PRAGMA synchronous=OFF")
    lite.execute(
        "CREATE TABLE people (gmsfhm TEXT PRIMARY KEY, xm TEXT, xbdm TEXT, mzdm TEXT, csrq TEXT, "
        "jzdz TEXT, jzdxzqh TEXT, gxsj TEXT)"
    )
    with psycopg.connect(libpq(url)) as conn, conn.cursor(name="rows") as cursor:
        cursor.itersize = 50_000
        cursor.execute(
            f'SELECT gmsfhm, xm, xbdm, mzdm, csrq::text, jzdz, jzdxzqh, gxsj::text FROM "{table}" ORDER BY gmsfhm'
        )
        while batch := cursor.fetchmany(50_000):
            lite.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    lite.commit()
    lite.close()
    partial.rename(path)
    log(f"  datasette 的 SQLite 文件：{rows:,} 行，{time.perf_counter() - began:.1f} s")
    return path


def datasette_binary(folder: Path) -> str:
    venv = folder / "datasette-venv"
    binary = venv / "bin" / "datasette"
    if not binary.exists():
        log("  安装 datasette 到独立虚拟环境 …")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "datasette>=0.65"], check=True)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    log(f"  {version.stdout.strip()}")
    return str(binary)


# ---- load generators ------------------------------------------------------------------------------

WRK_SCRIPT = """
local keys = {}
for line in io.lines(os.getenv("BENCH_KEYS")) do keys[#keys + 1] = line end
local prefix, suffix = os.getenv("BENCH_PREFIX"), os.getenv("BENCH_SUFFIX")
local auth = os.getenv("BENCH_AUTH")
if auth ~= "" then wrk.headers["Authorization"] = auth end
function setup(thread) thread:set("seed", math.random(1, 1000000)) end
function init(args) math.randomseed(seed) end
function request() return wrk.format("GET", prefix .. keys[math.random(#keys)] .. suffix) end
"""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(
    base: str, prefix: str, suffix: str, auth: str, keys: Path, clients: int, seconds: int, folder: Path
) -> dict[str, float]:
    script = folder / "lookup.lua"
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_KEYS": str(keys),
        "BENCH_PREFIX": prefix,
        "BENCH_SUFFIX": suffix,
        "BENCH_AUTH": auth,
    }
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{clients}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"wrk 收到错误响应：\n{out}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "requests": float(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
    }


def run_pgbench(url: str, table: str, clients: int, seconds: int, folder: Path) -> dict[str, float]:
    script = folder / "lookup.sql"
    script.write_text(
        f"\\set n random(1, {SAMPLE_KEYS})\n"
        f'SELECT gmsfhm, xm, xbdm FROM "{table}" WHERE gmsfhm = (SELECT k FROM bench_keys WHERE n = :n);\n'
    )
    parsed = make_url(url)
    out = subprocess.run(
        [
            "pgbench", "-n", "-M", "prepared", "-j", "2", "-c", str(clients), "-T", str(seconds),
            "-f", str(script), "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
            "-U", parsed.username or "postgres", parsed.database or "",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout  # fmt: skip
    return {
        "rps": float(re.search(r"tps = ([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "avg": float(re.search(r"latency average = ([\d.]+) ms", out).group(1)),  # type: ignore[union-attr]
    }


# ---- the two measurements ---------------------------------------------------------------------------


def bench_lookups(admin: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    log(f"按主键查询：{args.rows:,} 行")
    url, code, token = build_database(admin, "jutong_bench_exchange", args.rows, folder, args.reuse)
    table = data_table(url)
    keys = sample_keys(url, table, folder)
    results: dict[str, Any] = {"rows": args.rows, "workers": args.workers}

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    prefix = f"/api/v1/data/{quote(code, safe='')}/records?key="
    command, env = jutong_server(url, port, args.workers, folder)
    with serving(command, env, base, "/healthz"):
        first = keys.read_text().split("\n", 1)[0]
        answer = httpx.get(base + prefix + first, headers={"Authorization": f"Bearer {token}"}).json()
        if (
            not answer.get("found")
            or set(answer["record"]) != set(GRANTED)
            or "*" not in answer["record"]["xm"]
        ):
            raise SystemExit(f"查询结果不对：{answer}")
        run_wrk(base, prefix, "", f"Bearer {token}", keys, 16, 3, folder)  # warm-up
        for clients in CLIENTS:
            results[f"jutong_{clients}"] = run_wrk(
                base, prefix, "", f"Bearer {token}", keys, clients, args.seconds, folder
            )
    with psycopg.connect(libpq(url)) as conn:
        accesses = conn.execute("SELECT COUNT(*) FROM data_access").fetchone()[0]  # type: ignore[index]
    results["recorded_accesses"] = accesses

    for clients in CLIENTS:
        results[f"pgbench_{clients}"] = run_pgbench(url, table, clients, args.seconds, folder)

    lite = datasette_db(url, table, folder, args.rows)
    binary = datasette_binary(folder)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [binary, "serve", "-i", str(lite), "--port", str(port)]
    with serving(command, dict(os.environ), base, "/-/versions.json"):
        prefix = f"/{lite.stem}/people/"
        answer = httpx.get(base + prefix + first + ".json").json()
        if not answer.get("rows"):
            raise SystemExit(f"datasette 查询结果不对：{answer}")
        run_wrk(base, prefix, ".json", "", keys, 16, 3, folder)
        for clients in CLIENTS:
            results[f"datasette_{clients}"] = run_wrk(
                base, prefix, ".json", "", keys, clients, args.seconds, folder
            )

    for clients in CLIENTS:
        ours, pg, ds = (results[f"{w}_{clients}"] for w in ("jutong", "pgbench", "datasette"))
        log(
            f"  {clients:>2} 个并发：jutong {ours['rps']:>7,.0f} 次/秒 p50 {ours['p50']:6.1f} ms p99 {ours['p99']:6.1f} ms"
            f" | datasette {ds['rps']:>7,.0f} 次/秒 p50 {ds['p50']:6.1f} ms p99 {ds['p99']:6.1f} ms"
            f" | pgbench {pg['rps']:>8,.0f} TPS 平均 {pg['avg']:.2f} ms"
            f" | jutong/datasette {ours['rps'] / ds['rps']:.1f}×（目标 ≥ 2×）"
        )
    log(
        f"  64 并发 p99 {results['jutong_64']['p99']:.1f} ms（目标 < 50 ms）；"
        f"数据访问记录 {accesses:,} 条（每次查询一条）"
    )
    return results


def bench_export(admin: str, args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    results = []
    for rows in (args.export_rows // 10, args.export_rows):
        log(f"CSV 导出：{rows:,} 行")
        url, code, token = build_database(admin, f"jutong_bench_export_{rows}", rows, folder, args.reuse)
        table = data_table(url)
        began = time.perf_counter()
        copied = 0
        with (
            psycopg.connect(libpq(url)) as conn,
            conn.cursor() as cursor,
            cursor.copy(
                f'COPY (SELECT gmsfhm, xm, xbdm FROM "{table}" ORDER BY gmsfhm) TO STDOUT (FORMAT csv)'
            ) as copy,
        ):
            for chunk in copy:
                copied += len(chunk)
        baseline = time.perf_counter() - began

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command, env = jutong_server(url, port, 1, folder)
        with serving(command, env, base, "/healthz") as child:
            httpx.get(base + "/healthz")
            began = time.perf_counter()
            size = lines = 0
            with (
                ingest_bench.PeakRss(child.pid) as memory,
                httpx.stream(
                    "GET",
                    f"{base}/api/v1/data/{quote(code, safe='')}/export?format=csv",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=600,
                ) as response,
            ):
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            seconds = time.perf_counter() - began
        if lines != rows + 1:
            raise SystemExit(f"导出行数不对：{lines - 1} ≠ {rows}")
        result = {
            "rows": rows,
            "seconds": seconds,
            "mb": size / 2**20,
            "idle_mb": memory.start / 2**20,
            "peak_mb": memory.peak / 2**20,
            "copy_s": baseline,
            "copy_mb": copied / 2**20,
        }
        log(
            f"  jutong {rows / seconds:>9,.0f} 行/秒 {seconds:6.1f} s {result['mb']:,.0f} MB | "
            f"COPY 基线 {rows / baseline:>9,.0f} 行/秒 {baseline:5.1f} s | "
            f"服务进程内存 空闲 {result['idle_mb']:,.0f} MB → 峰值 {result['peak_mb']:,.0f} MB"
            f"（增长 {result['peak_mb'] - result['idle_mb']:,.0f} MB）"
        )
        results.append(result)
    small, big = results
    log(
        f"  内存增长：{small['rows']:,} 行 {small['peak_mb'] - small['idle_mb']:,.0f} MB → "
        f"{big['rows']:,} 行 {big['peak_mb'] - big['idle_mb']:,.0f} MB（数据量 ×10）"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="jutong serve 的工作进程数")
    parser.add_argument("--seconds", type=int, default=20, help="每轮压测秒数")
    parser.add_argument(
        "--files", type=Path, default=None, help="文件目录（生成的数据、datasette 环境；可复用）"
    )
    parser.add_argument("--reuse", action="store_true", help="复用上次建好的同规模数据库")
    parser.add_argument("--only", choices=("lookup", "export"), default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None and args.only != "export":
        raise SystemExit("需要 wrk：apt-get install wrk")
    admin = os.environ.get("JUTONG_BENCH_POSTGRES_URL", ingest_bench.DEFAULT_PG)
    folder = args.files or Path(tempfile.mkdtemp(prefix="jutong_bench_exchange_"))
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    if args.only in (None, "lookup"):
        out["lookup"] = bench_lookups(admin, args, folder)
    if args.only in (None, "export"):
        out["export"] = bench_export(admin, args, folder)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
