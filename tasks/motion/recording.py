"""Performance recordings: two phones' LatentState streams, checked and put on one clock.

A recording is Parquet or CSV, one row per sensor frame: `t` (seconds, increasing per
device), `device` (0 or 1), `z0`…`z24`, optional `section`. Every problem is reported with the
file, the 1-based data row (the CSV header is not counted) and the column, so a person can
find it in a spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tasks.config import MotionConfig
from tasks.motion.checks import (LATENT_DIM, MAX_REPORTED, N_DEVICES, Z_COLUMNS, Issue,
                                  check_clock, check_devices, check_devices_overlap,
                                  check_dropouts, check_range)

REQUIRED_COLUMNS = ("t", "device", *Z_COLUMNS)
OPTIONAL_COLUMNS = ("section",)

# Arrow's string → float cast stops at the first bad cell without saying where; this pattern
# finds every bad cell at once so each gets its own row number.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(?i:nan|inf|infinity)$"


class PerformanceError(ValueError):
    """A recording that cannot be used; `issues` lists every problem found."""

    def __init__(self, path: Path | str, issues: list[Issue]):
        self.path = str(path)
        self.issues = issues
        more = f" (and {len(issues) - 1} more problems)" if len(issues) > 1 else ""
        super().__init__(f"{path}: {issues[0].describe()}{more}")


@dataclass(frozen=True)
class Performance:
    """A recording resampled onto one clock at the conditioning frame rate."""

    path: str
    frame_rate: float
    start_s: float  # recording time `t` of frame 0
    frames: np.ndarray  # (T, 2, 25) float32, zeros where a device is absent
    present: np.ndarray  # (T, 2) bool: the device was recording at that frame
    sections: np.ndarray  # (T,) int32 index into section_names, -1 where unknown
    section_names: tuple[str, ...] = ()
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.frame_rate

    @property
    def devices(self) -> list[int]:
        return [d for d in range(N_DEVICES) if self.present[:, d].any()]

    def frame_times(self) -> np.ndarray:
        return self.start_s + np.arange(self.n_frames) / self.frame_rate


@dataclass(frozen=True)
class ValidationReport:
    path: str
    ok: bool
    frames: int
    duration_s: float
    devices: list[int]
    errors: list[Issue]
    warnings: list[Issue]

    def to_json(self) -> dict:
        return {"path": self.path, "ok": self.ok, "frames": self.frames,
                "duration_s": round(self.duration_s, 3), "devices": self.devices,
                "errors": [e.to_json() for e in self.errors],
                "warnings": [w.to_json() for w in self.warnings]}


def validate_performance(path: Path | str, config: MotionConfig = MotionConfig(),
                         ) -> tuple[Performance | None, ValidationReport]:
    """Check a recording and resample it; the performance is None when it is not usable."""
    try:
        performance = load_performance(path, config)
    except PerformanceError as error:
        return None, ValidationReport(str(path), False, 0, 0.0, [], error.issues, [])
    return performance, ValidationReport(
        str(path), True, performance.n_frames, performance.duration_s, performance.devices,
        [], list(performance.warnings))


def load_performance(path: Path | str, config: MotionConfig = MotionConfig()) -> Performance:
    """Read, check and resample one recording; raises PerformanceError naming every problem."""
    path = Path(path)
    table = read_recording(path)
    columns = _check_columns(path, table)
    issues: list[Issue] = []
    t = _numeric(table["t"], "t", issues)
    device = _numeric(table["device"], "device", issues)
    z = np.stack([_numeric(table[c], c, issues) for c in Z_COLUMNS], axis=1)  # (N, 25)
    sections = _sections(table, issues) if "section" in columns else None

    issues += check_devices(device)
    issues += check_range(z, config.max_abs_value)
    rows_of = {d: np.flatnonzero(device == d) for d in range(N_DEVICES)}
    warnings: list[Issue] = []
    for d, rows in rows_of.items():
        issues += check_clock(t, rows, d, config.max_gap_s)
        errors, notes = check_dropouts(t, z, rows, config.max_dropout_s)
        issues += errors
        warnings += notes
    if not issues:
        issues += check_devices_overlap(t, rows_of, config.max_gap_s, config.max_duration_s)
    if issues:
        raise PerformanceError(path, _sorted(issues))

    streams = {d: (t[rows], _fill_dropouts(t[rows], z[rows])) for d, rows in rows_of.items()
               if len(rows)}
    return _resample(path, streams, rows_of, sections, config.frame_rate, _sorted(warnings))


def read_recording(path: Path) -> pa.Table:
    """The raw table; CSV cells stay text so every bad value can be located."""
    if not path.is_file():
        raise PerformanceError(path, [Issue(None, None, "file does not exist")])
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            _refuse_duplicate_names(path, pq.read_schema(path).names)  # else unreadable by name
            return pq.read_table(path)
        if suffix == ".csv":
            return _read_csv_as_text(path)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as error:
        kind = "Parquet" if suffix != ".csv" else "CSV"
        reason = f"not a readable {kind} file: {str(error).splitlines()[0]}"
        raise PerformanceError(path, [Issue(None, None, reason)]) from error
    raise PerformanceError(path, [Issue(None, None, f"unknown format {suffix!r}: "
                                                    "expected .parquet or .csv")])


def _refuse_duplicate_names(path: Path, names: list[str]) -> None:
    issues = [Issue(None, n, f"column appears {names.count(n)} times")
              for n in sorted(set(names)) if names.count(n) > 1]
    if issues:
        raise PerformanceError(path, issues)


def _read_csv_as_text(path: Path) -> pa.Table:
    with path.open("r", encoding="utf-8") as handle:
        header = handle.readline().strip()
    if not header:
        raise pa.ArrowInvalid("the file is empty (no header row)")
    names = [n.strip() for n in header.split(",")]
    return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=True))


def _check_columns(path: Path, table: pa.Table) -> set[str]:
    columns = set(table.column_names)
    issues = [Issue(None, c, "missing column") for c in REQUIRED_COLUMNS if c not in columns]
    issues += [Issue(None, c, f"column appears {table.column_names.count(c)} times")
               for c in sorted(columns) if table.column_names.count(c) > 1]
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    issues += [Issue(None, c, "unexpected column") for c in table.column_names if c not in known]
    if table.num_rows == 0:
        issues.append(Issue(None, None, "the recording has no rows"))
    if issues:
        raise PerformanceError(path, issues)
    return columns


def _numeric(column: pa.ChunkedArray, name: str, issues: list[Issue]) -> np.ndarray:
    """float64 values; empty cells become NaN, text that is not a number is an issue."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    if pa.types.is_boolean(column.type) or not pa.types.is_string(column.type):
        issues.append(Issue(None, name, f"expected numbers, found {column.type}"))
        return np.full(len(column), np.nan)
    text = pc.utf8_trim_whitespace(column)
    blank = pc.fill_null(pc.equal(text, ""), True)
    good = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
    bad_rows = np.flatnonzero(~(good.to_numpy(zero_copy_only=False)
                                | blank.to_numpy(zero_copy_only=False)))
    for row in bad_rows[:MAX_REPORTED]:
        issues.append(Issue(int(row) + 1, name, f"not a number: {text[int(row)].as_py()!r}"))
    usable = pc.if_else(good, text, pa.scalar(None, pa.string()))
    return pc.cast(usable, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _fill_dropouts(times: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Short dropouts linearly interpolated in time (ends held at the nearest value)."""
    z = z.copy()
    for k in np.flatnonzero((~np.isfinite(z)).any(axis=0)):
        good = np.isfinite(z[:, k])
        z[~good, k] = np.interp(times[~good], times[good], z[good, k])
    return z


def _sections(table: pa.Table, issues: list[Issue]) -> np.ndarray | None:
    column = table["section"]
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_integer(kind) or pa.types.is_null(kind)):
        issues.append(Issue(None, "section", f"expected text labels, found {kind}"))
        return None
    if not pa.types.is_string(kind):
        column = column.cast(pa.string())
    values = column.to_numpy(zero_copy_only=False)
    return np.array([v.strip() if isinstance(v, str) and v.strip() else "" for v in values],
                    dtype=object)


def _resample(path: Path, streams: dict[int, tuple[np.ndarray, np.ndarray]],
              rows_of: dict[int, np.ndarray], sections: np.ndarray | None,
              frame_rate: float, warnings: list[Issue]) -> Performance:
    start = min(times[0] for times, _ in streams.values())
    end = max(times[-1] for times, _ in streams.values())
    n_frames = int(np.floor((end - start) * frame_rate + 1e-9)) + 1
    clock = start + np.arange(n_frames) / frame_rate
    frames = np.zeros((n_frames, N_DEVICES, LATENT_DIM), np.float32)
    present = np.zeros((n_frames, N_DEVICES), bool)
    for d, (times, values) in streams.items():
        inside = (clock >= times[0] - 1e-9) & (clock <= times[-1] + 1e-9)
        present[:, d] = inside
        frames[inside, d] = resample_stream(times, values, clock[inside], frame_rate)

    names: tuple[str, ...] = ()
    labels = np.full(n_frames, -1, np.int32)
    if sections is not None:
        labels, names = _section_labels(clock, streams, rows_of, sections)
    return Performance(str(path), frame_rate, float(start), frames, present, labels, names,
                       tuple(warnings))


def resample_stream(times: np.ndarray, values: np.ndarray, clock: np.ndarray,
                    frame_rate: float) -> np.ndarray:
    """values (n, C) at irregular `times` → (len(clock), C) at `clock`.

    Faster sensors are averaged over each frame's interval (the exact integral of the linear
    interpolant, a box filter that keeps 60 Hz jitter from aliasing into 30 Hz frames);
    slower ones are linearly interpolated.
    """
    if len(times) < 2:
        return np.repeat(values[:1], len(clock), axis=0).astype(np.float32)
    if np.median(np.diff(times)) >= 1.0 / frame_rate:
        return np.stack([np.interp(clock, times, values[:, k]) for k in range(values.shape[1])],
                        axis=1).astype(np.float32)
    half = 0.5 / frame_rate
    lo = np.clip(clock - half, times[0], times[-1])
    hi = np.clip(clock + half, times[0], times[-1])
    width = (hi - lo)[:, None]
    integral = _integrate_linear(times, values)
    average = (_integral_at(times, values, integral, hi)
               - _integral_at(times, values, integral, lo)) / np.maximum(width, 1e-12)
    return average.astype(np.float32)


def _integrate_linear(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral at each sample time, (n, C)."""
    areas = 0.5 * (values[1:] + values[:-1]) * np.diff(times)[:, None]
    return np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(areas, axis=0)])


def _integral_at(times: np.ndarray, values: np.ndarray, integral: np.ndarray,
                 x: np.ndarray) -> np.ndarray:
    """The integral of the linear interpolant from times[0] to each x, (len(x), C)."""
    i = np.clip(np.searchsorted(times, x, side="right") - 1, 0, len(times) - 2)
    dt = (times[i + 1] - times[i])[:, None]
    u = (x - times[i])[:, None]
    slope = (values[i + 1] - values[i]) / dt
    return integral[i] + values[i] * u + 0.5 * slope * u * u


def _section_labels(clock: np.ndarray, streams: dict, rows_of: dict[int, np.ndarray],
                    sections: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Each frame takes the section of the latest sample at or before it (device 0 first)."""
    unique, first, row_codes = np.unique(sections, return_index=True, return_inverse=True)
    order = np.argsort(first)  # names numbered in order of first appearance
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order))
    row_labels = np.where(sections == "", -1, rank[row_codes])
    names = tuple(str(unique[i]) for i in order if unique[i] != "")
    if "" in unique:  # keep numbering dense once the blank name is gone
        blank_rank = rank[list(unique).index("")]
        row_labels = np.where(row_labels > blank_rank, row_labels - 1, row_labels)

    labels = np.full(len(clock), -1, np.int32)
    for d in sorted(streams, reverse=True):  # device 0 written last, so it wins
        times, _ = streams[d]
        at = np.clip(np.searchsorted(times, clock, side="right") - 1, 0, len(times) - 1)
        inside = (clock >= times[0]) & (clock <= times[-1])
        labels[inside] = np.where(row_labels[rows_of[d][at[inside]]] >= 0,
                                  row_labels[rows_of[d][at[inside]]], labels[inside])
    return labels, names


def _sorted(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda i: (i.row or 0, i.column or ""))[:MAX_REPORTED]
