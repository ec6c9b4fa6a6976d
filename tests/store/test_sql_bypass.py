"""Every attempt in data/sql_bypass_attempts.txt, run through `vstream sql`'s path on chDB and
on the ClickHouse 18.16 server, leaves the store, the filesystem and the victim's secret alone.

The attempts share one seeded store per back end on purpose: an attempt that changed anything
would also show in the attempts after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from vstream.errors import VStreamError
from vstream.store import ClickHouseWriter, SceneRow, StoreURL, open_backend, open_store

CORPUS = Path(__file__).parent / "data" / "sql_bypass_attempts.txt"
SECRET = "vstream-victim-secret-4f1c"


def _attempts() -> list[tuple[str, str]]:
    attempts: list[tuple[str, list[str]]] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.startswith("### "):
            attempts.append((line[4:].strip(), []))
        elif attempts:
            attempts[-1][1].append(line)
    return [(name, "\n".join(lines).strip("\n")) for name, lines in attempts]


ATTEMPTS = _attempts()


def test_the_corpus_holds_the_reported_attempts() -> None:
    names = {name for name, _ in ATTEMPTS}
    assert len(ATTEMPTS) >= 40 and len(names) == len(ATTEMPTS)
    for reported in ("with_insert", "with_insert_into_function_file", "nested_comment_drop",
                     "heredoc_create", "file_shadow", "url_hang", "remote", "mysql",
                     "explain_pipeline_insert_function_file"):
        assert reported in names


@dataclass
class Target:
    writer: ClickHouseWriter
    victim: Path
    scratch: Path

    def snapshot(self) -> dict:
        backend = self.writer.backend
        tables = [t for (t,) in backend.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name").rows]
        return {"tables": {t: backend.query(f"SELECT count() FROM {t}").scalar() for t in tables},
                "victim": self.victim.read_text(),
                "scratch": sorted(p.name for p in self.scratch.iterdir())}


@pytest.fixture(scope="module", params=["chdb", "server"])
def target(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Target]:
    """A seeded store (3 scenes) with a victim file and an empty scratch folder beside it."""
    root = tmp_path_factory.mktemp(f"bypass-{request.param}")
    victim = root / "victim.txt"
    victim.write_text(SECRET + "\n")
    scratch = root / "scratch"
    scratch.mkdir()
    if request.param == "chdb":
        url, cleanup = StoreURL.parse(f"chdb://{root / 'store'}"), None
    else:
        base = StoreURL.parse(request.getfixturevalue("clickhouse_server"))
        url = replace(base, database=f"bypass_{uuid.uuid4().hex[:10]}")
        with open_backend(base) as admin:
            admin.execute(f"CREATE DATABASE {url.database}")
        cleanup = (base, url.database)
    with open_store(url) as writer:
        writer.write_scenes([SceneRow("s", i, float(i), i + 1.0, i * 25, i * 25 + 24, "m")
                             for i in range(3)])
        yield Target(writer, victim, scratch)
    if cleanup:
        with open_backend(cleanup[0]) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {cleanup[1]}")


@pytest.mark.parametrize(("name", "sql"), ATTEMPTS, ids=[name for name, _ in ATTEMPTS])
def test_attempt_changes_nothing_and_reads_nothing_outside(target: Target, name: str,
                                                          sql: str) -> None:
    before = target.snapshot()
    assert before["tables"]["scenes"] == 3 and before["victim"] == SECRET + "\n"
    query = sql.replace("{victim}", str(target.victim)).replace("{tmp}", str(target.scratch))
    try:
        rows = target.writer.query_readonly(query, timeout_s=20).rows
    except VStreamError as ex:  # refused: by the friendly check or by the engine
        assert "\n" not in str(ex)
    else:
        assert SECRET not in repr(rows)
    assert target.snapshot() == before
