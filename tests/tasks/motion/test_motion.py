"""Performance recordings: every malformed file names its problem; resampling keeps the motion."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.config import MotionConfig
from tasks.motion.recording import (Z_COLUMNS, PerformanceError, load_performance, resample_stream,
                                    validate_performance)


def columns(seconds: float = 4.0, rate: float = 60.0, devices=(0, 1), t0: float = 10.0,
            value=lambda t, d: np.sin(2 * np.pi * 1.5 * t + d)) -> dict[str, list]:
    """Rows of a clean recording, both devices interleaved in time."""
    t = t0 + np.arange(int(seconds * rate)) / rate
    rows = sorted((ti, d) for ti in t for d in devices)
    out = {"t": [r[0] for r in rows], "device": [r[1] for r in rows]}
    for k, name in enumerate(Z_COLUMNS):
        out[name] = [value(r[0], r[1]) * (1 + 0.1 * k) for r in rows]
    return out


def write_csv(path: Path, cols: dict[str, list]) -> Path:
    names = list(cols)
    lines = [",".join(names)]
    lines += [",".join(str(cols[n][i]) for n in names) for i in range(len(cols[names[0]]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def errors_of(path: Path, config: MotionConfig = MotionConfig()) -> list[tuple]:
    with pytest.raises(PerformanceError) as caught:
        load_performance(path, config)
    assert str(path) in str(caught.value)
    return [(i.row, i.column, i.reason) for i in caught.value.issues]


def test_clean_recording_on_one_clock(tmp_path):
    cols = columns()
    pq.write_table(pa.table(cols), tmp_path / "clean.parquet")
    performance, report = validate_performance(tmp_path / "clean.parquet")
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.devices == [0, 1]
    assert performance.frames.shape == (report.frames, 2, 25)
    assert report.frames == 120  # 4 s at 30 Hz: 10.0 … 13.9833 s
    assert performance.start_s == pytest.approx(10.0)
    assert performance.present.all()


def test_csv_and_parquet_give_the_same_frames(tmp_path):
    cols = columns()
    pq.write_table(pa.table(cols), tmp_path / "a.parquet")
    write_csv(tmp_path / "a.csv", cols)
    a = load_performance(tmp_path / "a.parquet")
    b = load_performance(tmp_path / "a.csv")
    np.testing.assert_allclose(a.frames, b.frames, atol=1e-6)


def test_resampling_keeps_a_sine_trajectory():
    rng = np.random.default_rng(0)
    t = np.sort(np.arange(0, 20, 1 / 60) + rng.normal(0, 0.002, 1200))  # jittered 60 Hz
    values = np.sin(2 * np.pi * 2.0 * t)[:, None]
    clock = np.arange(0.1, 19.9, 1 / 30)
    out = resample_stream(t, values, clock, 30.0)[:, 0]
    # a 1/30 s box filter passes 2 Hz at sinc(2/30) = 0.993 of its amplitude
    np.testing.assert_allclose(out, 0.993 * np.sin(2 * np.pi * 2.0 * clock), atol=0.02)
    slow = resample_stream(t[::3], values[::3], clock, 30.0)[:, 0]  # 20 Hz: interpolated
    np.testing.assert_allclose(slow, np.sin(2 * np.pi * 2.0 * clock), atol=0.06)


def test_short_dropouts_are_filled_and_reported(tmp_path):
    cols = columns()
    for row in (80, 82, 200):  # device 0's samples 40, 41 and 100 (devices alternate by row)
        cols["z3"][row] = float("nan")
    write_csv(tmp_path / "drop.csv", cols)
    performance, report = validate_performance(tmp_path / "drop.csv")
    assert report.ok
    assert [(w.row, w.column, w.reason) for w in report.warnings] == [
        (81, "z3", "2 non-finite value(s) interpolated"),
        (201, "z3", "1 non-finite value(s) interpolated")]
    assert np.isfinite(performance.frames).all()


def test_one_missing_device_is_marked_not_faked(tmp_path):
    cols = columns(devices=(0,))
    pq.write_table(pa.table(cols), tmp_path / "one.parquet")
    performance, report = validate_performance(tmp_path / "one.parquet")
    assert report.ok and report.devices == [0]
    assert performance.present[:, 0].all() and not performance.present[:, 1].any()
    assert not performance.frames[:, 1].any()


def test_a_device_that_stops_is_absent_afterwards(tmp_path):
    cols = columns()
    keep = [i for i, (t, d) in enumerate(zip(cols["t"], cols["device"])) if d == 0 or t < 12.0]
    cols = {k: [v[i] for i in keep] for k, v in cols.items()}
    performance = load_performance(write_csv(tmp_path / "stop.csv", cols))
    times = performance.frame_times()
    assert performance.present[times < 11.99, 1].all()
    assert not performance.present[times > 12.01, 1].any()


def test_sections_become_labels(tmp_path):
    cols = columns()
    cols["section"] = ["intro" if t < 12 else "drop" for t in cols["t"]]
    performance = load_performance(write_csv(tmp_path / "sec.csv", cols))
    assert performance.section_names == ("intro", "drop")
    times = performance.frame_times()
    assert set(performance.sections[times < 11.95]) == {0}
    assert set(performance.sections[times >= 12.0]) == {1}


# ---- every malformed recording gives its own error, naming row and column ----

def test_missing_and_extra_columns(tmp_path):
    cols = columns()
    del cols["z7"]
    cols["speed"] = cols["z0"]
    assert errors_of(write_csv(tmp_path / "cols.csv", cols)) == [
        (None, "z7", "missing column"), (None, "speed", "unexpected column")]


def test_non_numeric_value(tmp_path):
    cols = columns()
    cols["z4"][9] = "fast"
    assert errors_of(write_csv(tmp_path / "text.csv", cols)) == [
        (10, "z4", "not a number: 'fast'")]


def test_long_nan_run_is_an_error(tmp_path):
    cols = columns()
    for i in range(20, 60, 2):  # device 0 rows: 20 frames = 0.33 s > 0.25 s limit
        cols["z2"][i] = "nan"
    (row, column, reason), = errors_of(write_csv(tmp_path / "nan.csv", cols))
    assert (row, column) == (21, "z2") and "20 non-finite values" in reason


def test_infinite_values_count_as_dropouts(tmp_path):
    cols = columns()
    cols["z0"][10] = "inf"
    _, report = validate_performance(write_csv(tmp_path / "inf.csv", cols))
    assert report.ok and [(w.row, w.column) for w in report.warnings] == [(11, "z0")]


def test_time_going_backwards(tmp_path):
    cols = columns()
    cols["t"][40] = cols["t"][30]  # device 0 jumps back
    errors = errors_of(write_csv(tmp_path / "back.csv", cols))
    assert (41, "t") in [(r, c) for r, c, _ in errors]
    assert any("backwards" in reason for _, _, reason in errors)


def test_duplicate_timestamp(tmp_path):
    cols = columns()
    cols["t"][42] = cols["t"][40]  # two device-0 rows with the same time
    errors = errors_of(write_csv(tmp_path / "dup.csv", cols))
    assert (43, "t") in [(r, c) for r, c, _ in errors]
    assert any("duplicate timestamp" in reason for _, _, reason in errors)


def test_gap_longer_than_the_limit(tmp_path):
    cols = columns()
    cols = {k: v[:100] + v[160:] for k, v in cols.items()}  # 0.5 s of both devices gone
    errors = errors_of(write_csv(tmp_path / "gap.csv", cols), MotionConfig(max_gap_s=0.3))
    assert [(r, c) for r, c, _ in errors] == [(101, "t"), (102, "t")]
    assert all("gap of 0.517 s" in reason for _, _, reason in errors)


def test_unknown_device(tmp_path):
    cols = columns()
    cols["device"][5] = 2
    assert errors_of(write_csv(tmp_path / "dev.csv", cols)) == [
        (6, "device", "unknown device id 2 (expected 0 or 1)")]


def test_no_rows(tmp_path):
    cols = {k: [] for k in columns()}
    assert errors_of(write_csv(tmp_path / "empty.csv", cols)) == [
        (None, None, "the recording has no rows")]


@pytest.mark.parametrize("name, content, reason", [
    ("zero.csv", b"", "not a readable CSV file"),
    ("junk.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
    ("motion.json", b"{}", "unknown format '.json'"),
])
def test_unreadable_files(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    (row, column, message), = errors_of(path)
    assert row is None and column is None and message.startswith(reason)


def test_missing_file(tmp_path):
    assert errors_of(tmp_path / "nope.csv") == [(None, None, "file does not exist")]


def test_a_duplicated_header_column_is_named(tmp_path):
    path = write_csv(tmp_path / "dup.csv", columns(seconds=1.0))
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("z24", "z3")  # a column pasted twice, another one lost
    path.write_text("\n".join(lines) + "\n")
    errors = errors_of(path)
    assert (None, "z3", "column appears 2 times") in errors
    assert (None, "z24", "missing column") in errors
    table = pa.table(columns(seconds=1.0))
    pq.write_table(table.append_column("t", table["t"]), tmp_path / "dup.parquet")
    assert (None, "t", "column appears 2 times") in errors_of(tmp_path / "dup.parquet")


def test_a_section_column_of_another_type_is_an_issue(tmp_path):
    cols = columns(seconds=1.0)
    cols["section"] = [[1, 2]] * len(cols["t"])  # a list per row, not a label
    pq.write_table(pa.table(cols), tmp_path / "sections.parquet")
    [(row, column, reason)] = errors_of(tmp_path / "sections.parquet")
    assert (row, column) == (None, "section") and "expected text labels" in reason


def test_implausible_values_are_refused(tmp_path):
    cols = columns(seconds=1.0)
    cols["z7"][9] = 1e30  # finite, so no dropout: junk that would render as "ok"
    errors = errors_of(write_csv(tmp_path / "huge.csv", cols))
    assert errors == [(10, "z7", "value 1e+30 is outside ±1000 (motion.max_abs_value)")]


@pytest.mark.parametrize("apart_s", [3e5, 1e12])
def test_phones_whose_clocks_are_far_apart_are_refused(tmp_path, apart_s):
    one = columns(seconds=2.0, devices=(0,))
    other = columns(seconds=2.0, devices=(1,), t0=10.0 + apart_s)
    cols = {k: one[k] + other[k] for k in one}
    [(row, column, reason)] = errors_of(write_csv(tmp_path / "apart.csv", cols))
    assert column == "t" and "clocks" in reason and "do not overlap" in reason


def test_a_performance_longer_than_the_limit_is_refused(tmp_path):
    cols = columns(seconds=3.0, rate=2.0)
    errors = errors_of(write_csv(tmp_path / "long.csv", cols), MotionConfig(max_duration_s=2.0))
    assert [(r, c) for r, c, _ in errors] == [(None, "t")]
    assert "lasts 2.5 s" in errors[0][2]
