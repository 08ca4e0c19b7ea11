"""The checks a recording goes through, each finding every problem it can with its 1-based
data row and column (a recording is fixed in a spreadsheet, so the first problem alone is not
enough)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.config import RECORDING_DEVICES, RECORDING_LATENT_DIM

LATENT_DIM = RECORDING_LATENT_DIM
N_DEVICES = RECORDING_DEVICES
Z_COLUMNS = tuple(f"z{i}" for i in range(LATENT_DIM))
MAX_REPORTED = 100  # a file with a million bad cells needs its first hundred, not all of them


@dataclass(frozen=True)
class Issue:
    row: int | None  # 1-based data row; None when the problem is the whole file or column
    column: str | None
    reason: str

    def to_json(self) -> dict:
        return {"row": self.row, "column": self.column, "reason": self.reason}

    def describe(self) -> str:
        where = ", ".join(p for p in (f"row {self.row}" if self.row else "",
                                      f"column {self.column}" if self.column else "") if p)
        return f"{self.reason} ({where})" if where else self.reason


def check_devices(device: np.ndarray) -> list[Issue]:
    known = np.isin(device, np.arange(N_DEVICES))
    bad = np.flatnonzero(~known & np.isfinite(device))
    missing = np.flatnonzero(np.isnan(device))
    issues = [Issue(int(r) + 1, "device", f"unknown device id {device[r]:g} (expected 0 or 1)")
              for r in bad[:MAX_REPORTED]]
    issues += [Issue(int(r) + 1, "device", "device id is empty") for r in missing[:MAX_REPORTED]]
    return issues


def check_range(z: np.ndarray, max_abs: float) -> list[Issue]:
    """Finite values far outside what a motion model emits: a unit or export bug, not motion."""
    rows, cols = np.nonzero(np.isfinite(z) & (np.abs(z) > max_abs))
    return [Issue(int(r) + 1, Z_COLUMNS[c],
                  f"value {z[r, c]:.3g} is outside ±{max_abs:g} (motion.max_abs_value)")
            for r, c in zip(rows[:MAX_REPORTED], cols[:MAX_REPORTED])]


def check_devices_overlap(t: np.ndarray, rows_of: dict[int, np.ndarray], max_gap_s: float,
                           max_duration_s: float) -> list[Issue]:
    """The devices together: one clock with no hole longer than a device may pause, and no
    longer than a performance can be. Two phones whose clocks were never synchronised look
    like one performance lasting days."""
    spans = sorted((float(t[rows[0]]), float(t[rows[-1]]), d) for d, rows in rows_of.items()
                   if len(rows))
    for (_, first_end, a), (second_start, second_end, b) in zip(spans, spans[1:]):
        if second_start - first_end > max_gap_s:
            return [Issue(None, "t", f"the devices' clocks do not overlap: device {a} ends at "
                                     f"{first_end:.6g} s, device {b} starts at "
                                     f"{second_start:.6g} s ({second_start - first_end:.3g} s "
                                     "later); put both phones on one clock")]
    duration = max(end for _, end, _ in spans) - spans[0][0]
    if duration > max_duration_s:
        return [Issue(None, "t", f"the performance lasts {duration:.6g} s; the limit is "
                                 f"{max_duration_s:g} s (motion.max_duration_s)")]
    return []


def check_clock(t: np.ndarray, rows: np.ndarray, device: int, max_gap_s: float) -> list[Issue]:
    """One device's timestamps: finite, strictly increasing, no gap longer than allowed."""
    times = t[rows]
    issues = [Issue(int(rows[i]) + 1, "t", "time is empty or not finite")
              for i in np.flatnonzero(~np.isfinite(times))[:MAX_REPORTED]]
    if issues:
        return issues
    step = np.diff(times)
    for i in np.flatnonzero(step < 0)[:MAX_REPORTED]:
        issues.append(Issue(int(rows[i + 1]) + 1, "t",
                            f"time goes backwards: {times[i + 1]:.6g} s after {times[i]:.6g} s"))
    for i in np.flatnonzero(step == 0)[:MAX_REPORTED]:
        issues.append(Issue(int(rows[i + 1]) + 1, "t", f"duplicate timestamp {times[i]:.6g} s"))
    for i in np.flatnonzero(step > max_gap_s)[:MAX_REPORTED]:
        issues.append(Issue(int(rows[i + 1]) + 1, "t",
                            f"gap of {step[i]:.3g} s in device {device} "
                            f"(limit {max_gap_s:g} s)"))
    return issues


def check_dropouts(t: np.ndarray, z: np.ndarray, rows: np.ndarray, max_dropout_s: float,
                    ) -> tuple[list[Issue], list[Issue]]:
    """NaN/Inf runs in one device's values: short ones will be filled, long ones are errors."""
    if len(rows) == 0:
        return [], []
    times = t[rows]
    period = float(np.median(np.diff(times))) if len(rows) > 1 else 0.0
    runs: dict[tuple[int, int], list[str]] = {}  # one issue per run, naming its columns
    bad = ~np.isfinite(z[rows])  # (n, 25)
    for k in np.flatnonzero(bad.any(axis=0)):
        for run in true_runs(bad[:, k]):
            runs.setdefault(run, []).append(Z_COLUMNS[k])
    errors: list[Issue] = []
    warnings: list[Issue] = []
    for (start, stop), columns in sorted(runs.items()):
        column = "z0-z24" if len(columns) == LATENT_DIM else ",".join(columns)
        row = int(rows[start]) + 1
        if stop - start == len(rows):
            errors.append(Issue(row, column, "no finite value for this device"))
            continue
        span = times[stop - 1] - times[start] + period
        if span > max_dropout_s:
            errors.append(Issue(row, column, f"{stop - start} non-finite values over "
                                             f"{span:.3g} s (limit {max_dropout_s:g} s)"))
        else:
            warnings.append(Issue(row, column, f"{stop - start} non-finite value(s) "
                                               "interpolated"))
    return errors[:MAX_REPORTED], warnings[:MAX_REPORTED]


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
