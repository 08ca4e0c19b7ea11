"""Evaluation results in Parquet: one file per render folder (rewritten whole) and a history
in the home that every evaluation appends to, so `echelon sql` compares checkpoints over time."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_path

EVALUATION_NAME = "evaluation.parquet"


def write_evaluation(rows: list[dict], path: Path | str) -> Path:
    """`rows` (one dict per render, and a summary row) as one Parquet file, written whole."""
    with atomic_path(path) as tmp:
        pq.write_table(_table(rows), tmp)
    return Path(path)


def append_history(rows: list[dict], path: Path | str) -> Path:
    """Add `rows` to the history at `path` (columns are the union of old and new)."""
    path = Path(path)
    table = _table(rows)
    if path.is_file():
        table = pa.concat_tables([pq.read_table(path), table], promote_options="permissive")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_evaluation(path: Path | str) -> list[dict]:
    return pq.read_table(path).to_pylist()


def _table(rows: list[dict]) -> pa.Table:
    """Rows with different keys (a render's row, the summary's) as one table: every key of any
    row is a column, null where a row lacks it (pyarrow alone takes the first row's keys)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return pa.Table.from_pylist([{key: row.get(key) for key in columns} for row in rows])
