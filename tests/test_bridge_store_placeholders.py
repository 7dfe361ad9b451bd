"""The store's statements are written with ``?`` placeholders; PostgreSQL gets psycopg's
``%s`` in their place, and only there: never inside text, an identifier or a comment
(tests/test_bridge_store.py runs such a statement on both backends)."""

from __future__ import annotations

import pytest

from kore_plaid_nb.bridge.store.placeholders import to_pyformat


@pytest.mark.parametrize(
    ("sql", "rendered"),
    [
        (
            "SELECT id FROM items WHERE id = ? AND x = ?",
            "SELECT id FROM items WHERE id = %s AND x = %s",
        ),
        ("SELECT '?', ?", "SELECT '?', %s"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT E'it\\'s ?', ?", "SELECT E'it\\'s ?', %s"),
        ('SELECT "odd?name" FROM t WHERE a = ?', 'SELECT "odd?name" FROM t WHERE a = %s'),
        ("SELECT ? -- why?\n, ?", "SELECT %s -- why?\n, %s"),
        ("SELECT /* a ? */ ?", "SELECT /* a ? */ %s"),
        ("SELECT $$a ? b$$, $tag$?$tag$, ?", "SELECT $$a ? b$$, $tag$?$tag$, %s"),
        ("SELECT 'a%b', 5 % ?", "SELECT 'a%%b', 5 %% %s"),
        ("SELECT 1", "SELECT 1"),
    ],
)
def test_question_marks_outside_text_become_placeholders(sql: str, rendered: str) -> None:
    assert to_pyformat(sql) == rendered


def test_a_name_ending_in_e_is_not_an_escape_string() -> None:
    # Read as E'...', the backslash would escape the quote and swallow the placeholder.
    assert to_pyformat("SELECT name'a\\', ?, 'z'") == "SELECT name'a\\', %s, 'z'"
