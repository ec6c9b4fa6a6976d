"""`vstream sql` is read-only: what passes, what is refused, and that refused SQL never runs."""

from __future__ import annotations

import pytest

from vstream.errors import ReadOnlyQueryError, StoreError
from vstream.store import ClickHouseWriter, SceneRow
from vstream.store.readonly import EngineStatement, check_readonly

ALLOWED = [
    ("SELECT count() FROM scenes", "SELECT count() FROM scenes"),
    ("select 1;", "select 1"),
    ("  SELECT 1 ;  \n", "SELECT 1"),
    ("SELECT 1; -- trailing comment", "SELECT 1"),
    ("WITH 2 AS two SELECT two", "WITH 2 AS two SELECT two"),
    ("(SELECT 1) UNION ALL (SELECT 2)", "(SELECT 1) UNION ALL (SELECT 2)"),
    ("SHOW TABLES", "SHOW TABLES"),
    ("DESCRIBE TABLE scenes", "DESCRIBE TABLE scenes"),
    ("DESC scenes", "DESC scenes"),
    ("EXISTS TABLE scenes", "EXISTS TABLE scenes"),
    ("EXPLAIN SELECT 1", "EXPLAIN SELECT 1"),
    ("-- who is in it\nSELECT 1", "-- who is in it\nSELECT 1"),
    ("/* a; DROP TABLE scenes */ SELECT 1", "/* a; DROP TABLE scenes */ SELECT 1"),
    ("SELECT 'a; DROP TABLE scenes'", "SELECT 'a; DROP TABLE scenes'"),
    ("SELECT 'it''s; fine', \"we;ird\", `col;umn`", "SELECT 'it''s; fine', \"we;ird\", `col;umn`"),
    ("SELECT 'esc\\'; DROP'", "SELECT 'esc\\'; DROP'"),
]


@pytest.mark.parametrize(("sql", "runs"), ALLOWED)
def test_reading_queries_pass(sql: str, runs: str) -> None:
    assert check_readonly(sql) == runs


REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("DROP TABLE scenes", "DROP is not allowed"),
    ("drop table scenes", "DROP is not allowed"),
    ("INSERT INTO scenes SELECT * FROM scenes", "INSERT is not allowed"),
    ("ALTER TABLE scenes DELETE WHERE 1", "ALTER is not allowed"),
    ("TRUNCATE TABLE scenes", "TRUNCATE is not allowed"),
    ("CREATE TABLE x (a UInt8) ENGINE = Memory", "CREATE is not allowed"),
    ("OPTIMIZE TABLE scenes FINAL", "OPTIMIZE is not allowed"),
    ("SET readonly = 0", "SET is not allowed"),
    ("RENAME TABLE scenes TO s2", "RENAME is not allowed"),
    ("KILL QUERY WHERE 1", "KILL is not allowed"),
    ("SYSTEM STOP MERGES", "SYSTEM is not allowed"),
    ("SELECT 1; DROP TABLE scenes", "one statement"),
    ("SELECT 1;DROP TABLE scenes;", "one statement"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT 1 -- ;\n; DROP TABLE scenes", "one statement"),
    ("SELECT '; x' ; DROP TABLE scenes", "one statement"),
    ("SELECT $$ ' $$; DROP TABLE scenes; --'", "one statement"),
    ("SELECT 'unterminated; DROP TABLE scenes", "unterminated"),
    ("SELECT 1 /* ; DROP TABLE scenes", "unterminated"),
    ("SELECT * FROM scenes INTO OUTFILE '/tmp/x.csv'", "INTO OUTFILE"),
    ("/* SELECT */ DELETE FROM scenes WHERE 1", "DELETE is not allowed"),
    ("-- SELECT\nDROP TABLE scenes", "DROP is not allowed"),
    ("(((", "is not allowed"),
    ("SELECT 1 FORMAT TSV", "picks the output format: drop FORMAT TSV"),
]


@pytest.mark.parametrize(("sql", "message"), REFUSED)
def test_writing_queries_are_refused(sql: str, message: str) -> None:
    with pytest.raises(ReadOnlyQueryError, match="^vstream sql .*" + message):
        check_readonly(sql)


def _seed(store: ClickHouseWriter) -> None:
    store.write_scenes([SceneRow("s", i, float(i), i + 1.0, i * 25, i * 25 + 24, "m") for i in range(3)])


@pytest.mark.parametrize(("sql", "message"), REFUSED[2:])
def test_refused_queries_leave_the_store_unchanged(
    store: ClickHouseWriter, sql: str, message: str
) -> None:
    _seed(store)
    with pytest.raises(ReadOnlyQueryError):
        store.query_readonly(sql)
    assert store.count("scenes") == 3
    assert store.query_readonly("EXISTS TABLE scenes").scalar() == 1


def test_readonly_query_returns_rows(store: ClickHouseWriter) -> None:
    _seed(store)
    result = store.query_readonly("SELECT scene_index, end_s FROM scenes ORDER BY scene_index;")
    assert result.columns == ["scene_index", "end_s"]
    assert result.rows == [(0, 1.0), (1, 2.0), (2, 3.0)]


def test_read_errors_are_store_errors(store: ClickHouseWriter) -> None:
    with pytest.raises(StoreError) as info:
        store.query_readonly("SELECT * FROM no_such_table")
    assert "no_such_table" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "sql", ["DROP TABLE scenes", "SET max_threads = 1", "INSERT INTO scenes (row_id) VALUES (1)",
            "SELECT * FROM file('/etc/passwd', 'LineAsString')"]
)
def test_the_engine_refuses_writes_by_itself(store: ClickHouseWriter, sql: str) -> None:
    # The guarantee: SQL that skipped the friendly check is refused by the engine (readonly=1;
    # chDB's streaming API also takes nothing but queries that return rows).
    _seed(store)
    with pytest.raises(StoreError, match="(?i)readonly|read-only: table function|Streaming query is not supported"):
        list(store.backend.stream_readonly(EngineStatement("", sql), timeout_s=10).rows())
    assert store.query_readonly("EXISTS TABLE scenes").scalar() == 1
    assert store.count("scenes") == 3


@pytest.mark.parametrize(
    ("sql", "expected"),
    [("SHOW TABLES", ("scenes",)), ("DESCRIBE TABLE scenes", ("row_id", "UInt64")),
     ("DESC scenes", ("stream_id", "String")), ("EXISTS TABLE scenes", (1,)),
     ("EXISTS nope", (0,)), ("SELECT count() FROM (SELECT * FROM system.numbers LIMIT 10)", (10,)),
     ("WITH 2 AS two SELECT two -- a comment at the end", (2,))],
)
def test_reading_statements_give_their_rows(store: ClickHouseWriter, sql: str,
                                            expected: tuple) -> None:
    assert expected in store.query_readonly(sql).rows


def test_table_functions_that_reach_outside_are_refused_before_the_engine_builds_them(
        tmp_path) -> None:
    # readonly=1 refuses sqlite() only after building it, and building it creates the file
    from vstream.store import open_store

    with open_store(f"chdb://{tmp_path / 'store'}") as store:
        with pytest.raises(ReadOnlyQueryError, match="table function sqlite"):
            store.query_readonly(f"SELECT * FROM `sqlite`('{tmp_path}/made.db', 't')")
    assert not (tmp_path / "made.db").exists()


def test_subquery_settings_cannot_lift_readonly(store: ClickHouseWriter) -> None:
    # chDB ignores a subquery's SETTINGS; 18.16 refuses them: readonly stays 1 either way
    try:
        rows = store.query_readonly(
            "SELECT value FROM system.settings WHERE name = 'readonly' SETTINGS readonly = 0").rows
    except StoreError as ex:
        assert "readonly" in str(ex)
    else:
        assert rows == [("1",)]


def test_rows_keep_the_order_the_query_gives(store: ClickHouseWriter) -> None:
    got = store.query_readonly("SELECT number FROM (SELECT * FROM system.numbers LIMIT 5) ORDER BY number DESC")
    assert got.rows == [(4,), (3,), (2,), (1,), (0,)]
