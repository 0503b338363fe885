"""`make bench` runs every benchmark: each one imports and answers `--help` (a function
renamed in `src/` once left `records_bench` failing at its import, unseen until the
benchmarks ran)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.__main__ import _names  # noqa: E402

NAMES = _names()
PG_URL = os.environ.get("LEDGERBRIDGE_TEST_DATABASE_URL", "")


def test_the_benchmarks_are_found() -> None:
    assert {"sync_bench", "records_bench", "scheduler_bench", "startup_bench"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_benchmark_imports_and_describes_its_options(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"bench.{name}")
    with pytest.raises(SystemExit) as exited:
        module.main(["--help"])
    assert exited.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_the_sync_matrix_tabulates_medians_and_ranges_of_each_run(tmp_path: Path) -> None:
    from bench.sync_bench import TABLE_HEAD, Round, _read_summary, _rounds_json, _table_row

    rounds = [
        Round(rate=19_800.0, read_rate=22_000.0, cpu_us=35.2),  # 90%
        Round(rate=17_850.0, read_rate=21_000.0, cpu_us=34.0),  # 85%
        Round(rate=21_850.0, read_rate=23_000.0, cpu_us=38.9),  # 95%
    ]
    row = _table_row("intacct", 100_000, rounds, 151.4)
    assert row == (
        "| intacct | 100,000 | 90% (85-95) | 19,800 (17,850-21,850) "
        "| 22,000 (21,000-23,000) | 35 (34-39) | 151 MB |"
    )
    one = _table_row("qbo", 1_000_000, [Round(24_759.0, 25_790.0, 41.7)], 117.0)
    assert "| 96% | 24,759 |" in one  # one round: no range
    assert TABLE_HEAD.count("|") == row.count("|") * 2
    summary = tmp_path / "summary.json"
    summary.write_text(_rounds_json(rounds))
    assert _read_summary(summary)[0] == rounds  # what a matrix's child process hands back


def _failing_benchmark(made: list[str], engines: list[sa.Engine]) -> None:
    """A benchmark's body in its own database that fails midway, a connection still open."""
    from bench.databases import scratch_database

    with scratch_database(PG_URL, "lb_test_scratch") as url:
        engines.append(engine := sa.create_engine(url))
        with engine.connect() as conn:  # returned to the pool, still open: the drop ends it
            made.append(conn.exec_driver_sql("SELECT current_database()").scalar_one())
        raise RuntimeError("the benchmark failed")


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only")
def test_a_benchmarks_database_is_its_own_and_is_dropped_after_even_a_failure() -> None:
    made: list[str] = []
    engines: list[sa.Engine] = []
    with pytest.raises(RuntimeError):
        _failing_benchmark(made, engines)
    for engine in engines:
        engine.dispose()
    assert made
    assert made[0].startswith("lb_test_scratch_")
    server = sa.create_engine(PG_URL)
    with server.connect() as conn:
        left = conn.execute(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": made[0]}
        ).scalar_one()
    server.dispose()
    assert left == 0
