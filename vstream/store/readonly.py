"""Deciding whether a user's SQL only reads, for ``vstream sql``.

The check is lexical, not a parser: comments and quoted text are blanked out, then the
statement must be exactly one statement (one optional trailing ';') whose first keyword reads.
That is enough because ClickHouse statements say what they do in their first keyword, and it
matters most for chDB, which (unlike a server) happily runs ``SELECT 1; DROP TABLE scenes`` as two
statements. On a server the query also runs with ``readonly=1``, so the server refuses anything
this check let through by mistake.
"""

from __future__ import annotations

import re

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
