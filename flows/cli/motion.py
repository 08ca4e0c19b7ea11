"""Commands over motion recordings: validate-performance, pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (ConfigOption, DbOption, HomeOption, JsonOption, config_or_fail,
                              console, emit, fail, failing, home_dir)


def validate_performance(
    recording: Annotated[Path, typer.Argument(help="Performance recording (.parquet or .csv): "
                                                   "t, device, z0…z24, optional section.")],
    motion_config: Annotated[Path | None, typer.Option(
        "--config", help="Echelon config YAML (default: configs/echelon.yaml).",
        dir_okay=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Check a motion recording: columns, numbers, clock, devices, dropouts. Exits 1 when the
    file is not usable; short dropouts are filled and reported as warnings."""
    from tasks.config import load_echelon_config
    from tasks.motion.recording import validate_performance as check

    cfg = config_or_fail(load_echelon_config, motion_config)
    _, report = check(recording, cfg.motion)

    def show() -> None:
        verdict = "[green]usable[/green]" if report.ok else "[red]not usable[/red]"
        console.print(f"[bold]{recording}[/bold]: {verdict} · {report.frames} frames at "
                      f"{cfg.motion.frame_rate:g} Hz · {report.duration_s:.1f} s · "
                      f"devices {report.devices or '—'}")
        for kind, issues in (("error", report.errors), ("warning", report.warnings)):
            if issues:
                table = Table("row", "column", "reason", title=f"{len(issues)} {kind}(s)")
                for i in issues:
                    table.add_row(str(i.row or "—"), i.column or "—", i.reason)
                console.print(table)

    emit(report.to_json(), as_json, show)
    if not report.ok:
        first = report.errors[0]
        fail(f"{recording}: {first.describe()}"
             + (f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""))


STATUS_STYLE = {"ok": "green", "low_confidence": "yellow", "failed": "red"}


def pairs(
    sheet: Annotated[Path, typer.Option(
        "--sheet", dir_okay=False,
        help="Pairing sheet (CSV): recording,track[,offset_s]; paths relative to the sheet. "
             "offset_s: audio time = recording time + offset_s; empty: found by clock sync.")],
    home: HomeOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Turn recordings of dancers into training pairs: validate each recording, analyse (and
    tokenize) its track if the home does not know it yet, find where in the track the
    recording started (clock sync) unless the sheet says, and write
    HOME/motion_audio_pairs.parquet. Rows unchanged since the last run are kept as they were.
    Pairs clock sync is unsure of are `low_confidence` and left out of training until offset_s
    is set by hand. Exits 1 when any row failed (the good ones are written)."""
    from tasks.config import load_analysis_config
    from tasks.pairs.sheet import SheetError, read_sheet

    cfg = config_or_fail(load_analysis_config, config)
    with failing(SheetError):
        read_sheet(sheet)  # a sheet that is no pairing sheet fails here, in one line
    from flows.pairs import pairs_flow

    with failing(RuntimeError):  # a rebuild holds this home
        summary = pairs_flow(sheet=sheet.resolve(), home=home_dir(home), db=db, config=cfg)
    rows = summary["pairs"]

    def show() -> None:
        table = Table("recording", "offset (s)", "how", "confidence", "status", "reason",
                      title=f"{len(rows)} pairs → {summary['manifest']} ({summary['computed']} "
                            f"computed, {summary['kept']} unchanged)")
        for r in rows:
            style = STATUS_STYLE[r["status"]]
            table.add_row(Path(r["recording"]).name,
                          "—" if r["offset_s"] is None else f"{r['offset_s']:+.3f}",
                          "estimated" if r["estimated"] else "given",
                          "—" if r["confidence"] is None else f"{r['confidence']:.2f}",
                          f"[{style}]{r['status']}[/{style}]", r["error"] or r["note"] or "")
        console.print(table)
        console.print(f"tokens: {summary['tokenized']}")

    emit(rows, as_json, show)
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        fail(f"{len(failed)} of {len(rows)} pairs failed; first: {failed[0]['recording']}: "
             f"{failed[0]['error'].splitlines()[0]}")
