"""What both renderings share about failures: their grouping per rule, the anchors cells link to, column ranges."""

from __future__ import annotations

from ._model import Failure, Matrix, Row


def anchor(index: int, rule_id: str) -> str:
    """The id of the place a column's linked cell for a rule leads to, in its rule's failures."""
    return f"f{index + 1}-{rule_id.lower()}"


def failure_groups(matrix: Matrix) -> list[tuple[Row, list[tuple[Failure, list[int]]]]]:
    """Per rule with a failing test, each distinct failure and the columns (indices) that had it.

    Releases of one implementation often fail the same way; grouping keeps the
    failure text once instead of once per column.
    """
    out: list[tuple[Row, list[tuple[Failure, list[int]]]]] = []
    for row in matrix.rows:
        groups: dict[Failure, list[int]] = {}
        for i, column in enumerate(matrix.columns):
            if matrix.verdict(column, row.id) in ("fail", "xfail"):
                for failure in column.failures.get(row.id, []):
                    groups.setdefault(failure, []).append(i)
        if groups:
            out.append((row, sorted(groups.items(), key=lambda g: (g[1][0], g[0].test))))
    return out


def first_groups(groups: list[tuple[Failure, list[int]]]) -> dict[int, int]:
    """Column index -> the index of the first group it appears in (where its anchor goes)."""
    first: dict[int, int] = {}
    for g, (_, columns) in enumerate(groups):
        for column in columns:
            first.setdefault(column, g)
    return first


def column_ranges(indices: list[int]) -> str:
    """Column numbers as the Columns table counts them, runs shortened: `4–9, 12`."""
    runs: list[list[int]] = []
    for n in (i + 1 for i in indices):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
