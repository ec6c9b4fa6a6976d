"""What `vstream sql` sends to the engine for a user's query, and friendly refusals first.

The guarantee is the engine's, not this module's (docs/architecture.md, "vstream sql"):

- Both backends run user SQL with ``readonly=1`` (chDB: a separate session opened with it as a
  start-up setting; the server: a per-query setting). ClickHouse then refuses every write, DDL,
  SET/SETTINGS change (``readonly`` itself included), SYSTEM/KILL statement and every table
  function that reaches outside the store (file, url, remote, s3, mysql, ...).
- ``readonly`` does not cover what the *client* does: chDB runs ClickHouse's client in this
  process, and the client writes ``INTO OUTFILE`` files and runs several ';'-separated
  statements. So the statement sent is always the user's text inside a subquery,
  ``SELECT * FROM (\n<text>\n)`` (or ``EXPLAIN ... SELECT * FROM (...)``): ClickHouse's
  parser accepts neither ``INTO OUTFILE``, ``FORMAT`` nor ';' inside parentheses, and nothing of
  the user's text can sit after the closing one (the newline ends a trailing ``--`` comment).

One gap is left by ``readonly``: ClickHouse builds a table function before it checks access,
and ``sqlite('/any/path', 't')`` creates its database file while building (chDB 26.9; the
query is then refused). So before running, the backend asks the engine's own parser for the
statement's table functions (``EXPLAIN AST``, which builds nothing) and refuses any but those
that only generate rows in the engine (`ENGINE_TABLE_FUNCTIONS`), whatever quoting or comments
hide them from a lexer.

`check_readonly` is a lexer that only makes the usual mistakes fail with a friendly line
before the engine sees them ("DROP is not allowed", "give one statement"); nothing relies on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vstream.errors import ReadOnlyQueryError

READ_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"})

# Quoted text and comments. ClickHouse strings escape with backslash or by doubling the quote;
# identifiers may be quoted with " or `; ClickHouse 23+ (so chDB) also has heredoc strings
# $tag$...$tag$, which must be known here: otherwise `SELECT $$ ' $$; DROP TABLE t; --'` would
# look like one SELECT with a string in it, while chDB runs the DROP.
_SKIPPABLE = re.compile(
    r"""
      \$(\w*)\$.*?\$\1\$           # $heredoc$ ... $heredoc$
    | '(?:[^'\\]|\\.|'')*'        # 'string'
    | "(?:[^"\\]|\\.|"")*"        # "identifier"
    | `(?:[^`\\]|\\.|``)*`        # `identifier`
    | --[^\n]*                    # -- comment
    | \#[^\n]*                    # # comment (newer ClickHouse)
    | /\*.*?\*/                   # /* comment */
    """,
    re.VERBOSE | re.DOTALL,
)
_UNCLOSED = re.compile(r"""['"`]|/\*|\$\w*\$""")
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_FORMAT_CLAUSE = re.compile(r"\bFORMAT\s+(\w+)\s*$", re.IGNORECASE)


def check_readonly(sql: str) -> str:
    """Return `sql` (trailing ';' removed) if it is one statement that only reads data.

    Raises `ReadOnlyQueryError` ("vstream sql is read-only: ...") otherwise: for writes, DDL,
    SET, several statements, ``INTO OUTFILE`` (which writes a file on the machine running the
    query: this machine, for chDB), and unterminated quotes or comments (which would hide what
    follows from this check).
    """
    if not sql or not sql.strip():
        raise ReadOnlyQueryError("vstream sql is read-only: the query is empty")
    # Blank out quoted text and comments so their contents cannot look like ';' or keywords.
    code = _SKIPPABLE.sub(lambda m: " " if m.group(0)[0] in "-#/" else "''", sql)
    if _UNCLOSED.search(code.replace("''", "")):
        raise ReadOnlyQueryError(
            "vstream sql is read-only: the query has an unterminated quote or comment"
        )
    body = code.strip()
    statement_end = body.find(";")
    if statement_end != -1 and body[statement_end + 1 :].strip(" \t\r\n;"):
        raise ReadOnlyQueryError(
            "vstream sql is read-only: give one statement (found ';' followed by more SQL)"
        )
    head = body[:statement_end] if statement_end != -1 else body
    first = re.match(r"\(*\s*([A-Za-z]+)", head)
    keyword = first.group(1).upper() if first else ""
    if keyword not in READ_KEYWORDS:
        shown = keyword or head[:20]
        raise ReadOnlyQueryError(
            f"vstream sql is read-only: {shown} is not allowed; use SELECT, WITH, SHOW, "
            f"DESCRIBE, EXISTS or EXPLAIN"
        )
    if _INTO_OUTFILE.search(head):
        raise ReadOnlyQueryError("vstream sql is read-only: INTO OUTFILE writes a file")
    clause = _FORMAT_CLAUSE.search(head.strip())
    if clause:
        raise ReadOnlyQueryError(
            f"vstream sql picks the output format: drop FORMAT {clause.group(1)} and use "
            f"--format table, csv or json"
        )
    # Return the user's text (with quotes intact) up to the end of the one statement.
    return _cut_at_statement_end(sql)


def _cut_at_statement_end(sql: str) -> str:
    """`sql` without its trailing ';' and whitespace (and comments after the ';')."""
    position = 0
    while True:
        match = _SKIPPABLE.search(sql, position)
        semicolon = sql.find(";", position)
        if semicolon == -1:
            return sql.strip()
        if match is None or semicolon < match.start():
            return sql[:semicolon].strip()
        position = match.end()


# EXPLAIN's own words before the explained query; the query itself goes into the subquery.
_EXPLAIN = re.compile(
    r"\s*EXPLAIN(?:\s+(?:AST|SYNTAX|QUERY\s+TREE|PLAN|PIPELINE|ESTIMATE))?"
    r"(?:\s+\w+\s*=\s*\w+(?:\s*,\s*\w+\s*=\s*\w+)*)?\s+(?=[(Ss]|[Ww][Ii][Tt][Hh]\b)",
    re.IGNORECASE,
)
_SHOW_TABLES = re.compile(r"\s*SHOW\s+TABLES\s*", re.IGNORECASE)
_DESCRIBE = re.compile(r"\s*DESC(?:RIBE)?\s+(?:TABLE\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*", re.IGNORECASE)
_EXISTS = re.compile(r"\s*EXISTS\s+(?:TABLE\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*", re.IGNORECASE)


#: table functions that only make rows inside the engine (or read the store's own tables)
ENGINE_TABLE_FUNCTIONS = frozenset({
    "numbers", "numbers_mt", "zeros", "zeros_mt", "generate_series", "generateseries", "values",
    "view", "null", "generaterandom", "merge",
})
_AST_TABLE_FUNCTION = re.compile(r"^(\s*)TableExpression\b.*\n\1 Function (\w+)", re.MULTILINE)


def check_table_functions(explain_ast: str) -> None:
    """Refuse a statement whose ``EXPLAIN AST`` output names a table function outside
    `ENGINE_TABLE_FUNCTIONS` (see the module docstring)."""
    for _, name in _AST_TABLE_FUNCTION.findall(explain_ast):
        if name.lower() not in ENGINE_TABLE_FUNCTIONS:
            raise ReadOnlyQueryError(
                f"vstream sql is read-only: table function {name}() reaches outside the store")


@dataclass(frozen=True)
class EngineStatement:
    """What the engine runs for a user's query: `prefix` (``EXPLAIN ...`` or empty) before
    `query`, which is always ``SELECT * FROM (...)``; `sql` is the two together."""

    prefix: str
    query: str

    @property
    def sql(self) -> str:
        return f"{self.prefix} {self.query}" if self.prefix else self.query


def engine_statement(sql: str) -> EngineStatement:
    """The statement the engine runs for a user's `sql` (see the module docstring).

    SELECT/WITH queries are wrapped in a subquery; ``EXPLAIN`` wraps the query it explains;
    ``SHOW TABLES``, ``DESCRIBE t`` and ``EXISTS t`` become the equivalent queries on the
    system tables (those statements cannot sit in a subquery). Raises `ReadOnlyQueryError`
    with a friendly line for anything else.
    """
    one = check_readonly(sql)
    code = _SKIPPABLE.sub(lambda m: " " if m.group(0)[0] in "-#/" else "''", one)
    first = re.match(r"\(*\s*([A-Za-z]+)", code.strip())
    keyword = first.group(1).upper() if first else ""
    if keyword in ("SELECT", "WITH"):
        return EngineStatement("", _subquery(one))
    if keyword == "EXPLAIN":
        explain = _EXPLAIN.match(one)
        if explain is None:
            raise ReadOnlyQueryError(
                "vstream sql: EXPLAIN works here as EXPLAIN [AST|SYNTAX|PLAN|PIPELINE|ESTIMATE] "
                "SELECT ...")
        return EngineStatement(explain.group(0).strip(), _subquery(one[explain.end():]))
    if _SHOW_TABLES.fullmatch(one):
        return EngineStatement("", _subquery(
            "SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name"))
    described = _DESCRIBE.fullmatch(one)
    if described:
        return EngineStatement("", _subquery(
            f"SELECT name, type FROM system.columns WHERE database = currentDatabase() "
            f"AND table = '{described.group(1)}'"))
    exists = _EXISTS.fullmatch(one)
    if exists:
        return EngineStatement("", _subquery(
            f"SELECT toUInt8(count() > 0) AS result FROM system.tables "
            f"WHERE database = currentDatabase() AND name = '{exists.group(1)}'"))
    raise ReadOnlyQueryError(
        f"vstream sql runs SELECT, WITH, EXPLAIN, SHOW TABLES, DESCRIBE table and EXISTS table; "
        f"for other {keyword} statements query the system tables (system.tables, system.columns)"
    )


def _subquery(query: str) -> str:
    # The newlines: a trailing `-- comment` in the user's text must not swallow the ')'.
    return f"SELECT * FROM (\n{query}\n)"
