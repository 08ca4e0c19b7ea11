"""The `echelon` command line. Every command takes --json; failures exit non-zero with one
line on stderr that names the file and the reason."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

import flows  # noqa: F401  (keeps Prefect offline before anything imports it)

app = typer.Typer(
    name="echelon",
    help="Echelon pipeline: analyse music, rebuild the phrase dataset, train and render.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Analysis config YAML (default: configs/analysis.yaml).",
                 dir_okay=False),
]


def default_home() -> Path:
    return Path(os.environ.get("ECHELON_HOME", "./echelon-data"))


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, non-zero exit: what scripts calling us rely on."""
    print(f"echelon: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@app.command()
def analyze(
    audio: Annotated[Path, typer.Argument(help="Audio file (WAV/FLAC/OGG/AIFF; MP3/M4A with ffmpeg).")],
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw the analysis to this PNG.",
                                              dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Beats, downbeats, sections and phrases of one audio file."""
    from tasks.analysis import analyze_track
    from tasks.audio import AudioError
    from tasks.config import ConfigError, load_analysis_config

    try:
        cfg = load_analysis_config(config)
        result = analyze_track(audio, cfg, keep_waveform=plot is not None)
    except (AudioError, ConfigError) as error:
        fail(str(error))
    if plot is not None:
        from tasks.plot import plot_analysis

        plot_analysis(result, plot)
    record = result.to_json()
    if as_json:
        print(json.dumps(record))
        return
    _print_analysis(record, result.timings_s, plot)


def _print_analysis(record: dict, timings: dict[str, float], plot: Path | None) -> None:
    console.print(f"[bold]{record['path']}[/bold]  {record['duration_s']:.1f} s, "
                  f"{record['sample_rate']} Hz, {record['channels']} ch")
    console.print(f"tempo {record['tempo_bpm']:.2f} BPM · {len(record['beats'])} beats · "
                  f"{len(record['downbeats'])} bars · {len(record['sections'])} sections · "
                  f"{len(record['phrases'])} phrases")
    table = Table("section", "start", "end", "phrases (bars)")
    for i, s in enumerate(record["sections"]):
        bars = [str(p["n_bars"]) for p in record["phrases"] if p["section"] == i]
        table.add_row(str(i), f"{s['start_s']:.2f}", f"{s['end_s']:.2f}", " ".join(bars) or "—")
    console.print(table)
    total = sum(timings.values())
    console.print("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
                  + f" (total {total:.2f}s, {record['duration_s'] / max(total, 1e-9):.0f}× real time)")
    if plot is not None:
        console.print(f"plot written to {plot}")


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="Data folder (default $ECHELON_HOME or ./echelon-data).")] = None,
    tracks: Annotated[int, typer.Option("--tracks", min=1, max=50, help="How many tracks to generate.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated library.")] = 7,
    as_json: JsonOption = False,
) -> None:
    """Generate house-like tracks with known beats and performances that dance to them; analyse
    and score the tracks, validate the performances and write the motion-audio pairs, all in a
    Prefect flow."""
    from flows.demo import demo_flow

    home = home or default_home()
    summary = demo_flow(home=home, n_tracks=tracks, seed=seed)
    if as_json:
        print(json.dumps(summary))
        return
    table = Table("track", "true BPM", "BPM", "beats", "sections", "phrases", "beat F",
                  "downbeat F", "section F", title="echelon demo: generated tracks")
    for row in summary["tracks"]:
        table.add_row(Path(row["path"]).name, f"{row['true_bpm']:.2f}", f"{row['tempo_bpm']:.2f}",
                      str(row["beats"]), str(row["sections"]), str(row["phrases"]),
                      f"{row['beat_f']:.3f}", f"{row['downbeat_f']:.3f}", f"{row['section_f']:.3f}")
    console.print(table)
    table = Table("performance", "usable", "frames", "seconds", "devices", "warnings",
                  title="generated performances (with phone faults)")
    for row in summary["performances"]:
        table.add_row(Path(row["performance"]).name, "yes" if row["ok"] else "no",
                      str(row["frames"]), f"{row['duration_s']:.1f}",
                      ",".join(map(str, row["devices"])), str(row["warnings"]))
    console.print(table)
    console.print(f"library: {summary['library']}  ·  motion-audio pairs: {summary['pairs']}")
    console.print(f"try: echelon analyze {summary['tracks'][0]['path']} --plot analysis.png  ·  "
                  f"echelon validate-performance {summary['performances'][0]['performance']}")


HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Data folder: phrases.db, phrases.faiss, artifacts/ "
                                "(default $ECHELON_HOME or ./echelon-data)."),
]
DbOption = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the phrase database "
                                                           "(default: sqlite in --home).")]


@app.command()
def rebuild(
    library: Annotated[Path, typer.Option("--library", help="Folder of audio files (searched recursively).")],
    home: HomeOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Files analysed at once (default: one per two cores).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The dataset flow: analyse new and changed audio, drop deleted files, refresh the FAISS
    index and the Parquet artifacts. Prints analysed/skipped/failed/removed/phrases/run_id."""
    from tasks.config import ConfigError, load_analysis_config

    if not library.is_dir():
        fail(f"{library}: library folder does not exist")
    try:
        cfg = load_analysis_config(config)
    except ConfigError as error:
        fail(str(error))
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.dataset import rebuild_flow

    if workers is not None:
        rebuild_flow = rebuild_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    summary = rebuild_flow(library=library.resolve(), home=(home or default_home()).resolve(),
                           db=db, config=cfg)
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(*summary.keys(), title=f"rebuild of {library}")
    table.add_row(*(str(v) for v in summary.values()))
    console.print(table)


def _open_search(home: Path | None, db: str | None):
    from storage.db import PhraseDatabase
    from storage.home import Home
    from storage.vector_index import load_or_rebuild

    layout = Home(home or default_home())
    if db is None and not layout.db_file.is_file():
        fail(f"{layout.root}: no phrase database here; run "
             f"`echelon rebuild --library DIR --home {layout.root}` first")
    database = PhraseDatabase.open(layout.db_url(db))
    ids, vectors = database.embeddings()
    index, _ = load_or_rebuild(layout.faiss, ids, vectors)
    return database, index


@app.command()
def search(
    audio: Annotated[Path | None, typer.Option("--audio", help="Query audio file.")] = None,
    start: Annotated[float | None, typer.Option("--start", help="Query span start (s).")] = None,
    end: Annotated[float | None, typer.Option("--end", help="Query span end (s).")] = None,
    phrase: Annotated[int | None, typer.Option("--phrase", help="Query by a stored phrase id instead.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many phrases to return.")] = 10,
    home: HomeOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Nearest phrases in the database to an audio span or to a stored phrase."""
    from tasks.audio import AudioError
    from tasks.search import embed_audio, phrase_vector
    from tasks.search import search as find

    if (audio is None) == (phrase is None):
        fail("give exactly one of --audio FILE or --phrase ID", code=2)
    database, index = _open_search(home, db)
    try:
        query = embed_audio(audio, start, end) if audio is not None else phrase_vector(database, phrase)
    except (AudioError, ValueError, KeyError) as error:
        fail(str(error).strip("'\""))
    hits = find(database, index, query, k, exclude_id=phrase)
    if as_json:
        print(json.dumps(hits))
        return
    table = Table("phrase_id", "track", "start", "end", "score", title=f"{len(hits)} nearest phrases")
    for h in hits:
        table.add_row(str(h["phrase_id"]), h["track_path"], f"{h['start_s']:.2f}", f"{h['end_s']:.2f}",
                      f"{h['score']:.4f}")
    console.print(table)


@app.command()
def stats(home: HomeOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Summary of the phrase database: tracks, failures, phrases, hours, runs, index."""
    database, index = _open_search(home, db)
    summary = {**database.stats(), "index": index.kind, "index_size": index.size}
    if as_json:
        print(json.dumps(summary))
        return
    for key, value in summary.items():
        console.print(f"{key:>16}: {value}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="DuckDB SQL; views: tracks, beats, phrases, phrase_features, embeddings.")],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """DuckDB SQL over the Parquet artifacts."""
    import duckdb

    from storage.parquet_store import query as run_query

    from storage.home import Home

    artifacts = Home(home or default_home()).artifacts
    if not artifacts.is_dir():
        fail(f"{artifacts}: no artifacts yet; run `echelon rebuild` first")
    try:
        columns, rows = run_query(artifacts, query)
    except duckdb.Error as error:
        fail(str(error).splitlines()[0])
    if as_json:
        print(json.dumps([dict(zip(columns, r)) for r in rows], default=str))
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*(str(v) for v in r))
    console.print(table)


@app.command("validate-performance")
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
    from tasks.config import ConfigError, load_echelon_config
    from tasks.motion import validate_performance as check

    try:
        cfg = load_echelon_config(motion_config)
    except ConfigError as error:
        fail(str(error))
    _, report = check(recording, cfg.motion)
    record = report.to_json()
    if as_json:
        print(json.dumps(record))
    else:
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
    if not report.ok:
        first = report.errors[0]
        fail(f"{recording}: {first.describe()}"
             + (f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
