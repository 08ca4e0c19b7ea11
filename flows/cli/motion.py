"""Commands over motion recordings: validate-performance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import JsonOption, config_or_fail, console, emit, fail


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
