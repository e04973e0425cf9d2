"""User code that both type checkers must reject: never imported, never run.

Each line that must fail ends with `# E: <mypy codes> | <pyright rules>` (comma-separated
when one line has several); `tests/typing/test_typing.py` runs both checkers on these files
and asserts that every marked line is reported with exactly those codes, and nothing else.
"""
