"""The pairing sheet: which recording goes with which track.

A CSV with a header row and the columns `recording` (a performance recording), `track` (the
audio the dancers heard) and, optionally, `offset_s` (audio time = recording time t +
offset_s; empty: clock sync finds it). Paths are absolute or relative to the sheet's folder.
Other columns (notes, dancer names) are ignored. A problem with the whole sheet raises
`SheetError`; a problem with one row is kept on that row, so the others still pair.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

REQUIRED_COLUMNS = ("recording", "track")
OFFSET_COLUMN = "offset_s"
MAX_SHEET_BYTES = 50 * 1024 * 1024  # a pairing sheet is a few hundred rows, not a data dump


class SheetError(ValueError):
    """The sheet cannot be read as a pairing sheet at all."""


@dataclass(frozen=True)
class SheetRow:
    line: int  # 1-based data row (the header is not counted), as a spreadsheet shows it − 1
    pair_id: str  # the recording as the sheet names it: unique per manifest
    recording: Path  # resolved
    track: Path  # resolved
    offset_s: float | None  # given by hand; None: to be estimated
    error: str | None = None  # what is wrong with this row alone


def read_sheet(path: Path | str) -> list[SheetRow]:
    """Every data row of the sheet at `path`, in order; empty rows are skipped."""
    path = Path(path)
    if not path.is_file():
        raise SheetError(f"{path}: pairing sheet does not exist")
    if path.stat().st_size > MAX_SHEET_BYTES:
        raise SheetError(f"{path}: {path.stat().st_size} bytes is too large for a pairing "
                         "sheet (a CSV of recording,track[,offset_s] rows)")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as spreadsheets write, is fine
    except UnicodeDecodeError as error:
        raise SheetError(f"{path}: not a UTF-8 text file ({error.reason} at byte "
                         f"{error.start}); save the sheet as CSV UTF-8") from None
    if "\x00" in text:
        raise SheetError(f"{path}: not a CSV file (it holds binary data)")
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise SheetError(f"{path}: the sheet lacks the column(s) {', '.join(missing)} (its "
                         f"header is {','.join(header) or 'empty'}; expected "
                         "recording,track[,offset_s])")
    rows, seen = [], {}
    for line, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        cell = dict(zip(header, (c.strip() for c in cells)))
        row = _row(path.parent, line, cell, seen)
        seen.setdefault(row.recording, line)
        rows.append(row)
    if not rows:
        raise SheetError(f"{path}: the sheet has a header but no rows")
    return rows


def _row(folder: Path, line: int, cell: dict[str, str], seen: dict[Path, int]) -> SheetRow:
    recording, track = cell.get("recording", ""), cell.get("track", "")
    pair_id = recording or f"row {line}"
    resolved = _resolve(folder, recording)
    error = None
    if not recording or not track:
        error = f"row {line}: the {'recording' if not recording else 'track'} cell is empty"
    elif resolved in seen:
        error = f"row {line}: {recording} is already paired on row {seen[resolved]}"
        pair_id = f"{recording} (row {line})"
    offset, offset_error = _offset(cell.get(OFFSET_COLUMN, ""))
    if offset_error and not error:
        error = f"row {line}: {offset_error}"
    return SheetRow(line, pair_id, resolved, _resolve(folder, track), offset, error)


def _resolve(folder: Path, cell: str) -> Path:
    path = Path(cell).expanduser() if cell else folder
    return Path(folder / path).resolve() if not path.is_absolute() else path.resolve()


def _offset(cell: str) -> tuple[float | None, str | None]:
    if not cell:
        return None, None
    try:
        value = float(cell)
    except ValueError:
        return None, f"offset_s {cell!r} is not a number of seconds"
    if not math.isfinite(value):
        return None, f"offset_s {cell!r} is not a finite number of seconds"
    return value, None
