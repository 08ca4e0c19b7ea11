"""Commands over audio and the phrase dataset: analyze, rebuild, search, stats, sql."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (ConfigOption, DaskAddressOption, DbOption, HomeOption, JsonOption,
                              RunnerOption, check_runner, config_or_fail, console, emit, fail,
                              failing, home_dir, print_summary)


def analyze(
    audio: Annotated[Path, typer.Argument(help="Audio file (WAV/FLAC/OGG/AIFF; MP3/M4A with ffmpeg).")],
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw the analysis to this PNG.",
                                              dir_okay=False)] = None,
    config: ConfigOption = None,
) -> None:
    """Beats, downbeats, sections and phrases of one audio file."""
    from tasks.analysis.audio import AudioError
    from tasks.analysis.track import analyze_track
    from tasks.config import load_analysis_config

    cfg = config_or_fail(load_analysis_config, config)
    with failing(AudioError):
        result = analyze_track(audio, cfg, keep_waveform=plot is not None)
    if plot is not None:
        from tasks.analysis.plot import plot_analysis

        plot_analysis(result, plot)
    record = result.to_json()
    emit(record, as_json, lambda: _print_analysis(record, result.timings_s, plot))


def _print_analysis(record: dict, timings: dict[str, float], plot: Path | None) -> None:
    console.print(f"[bold]{record['path']}[/bold]  {record['duration_s']:.1f} s, "
                  f"{record['sample_rate']} Hz, {record['channels']} ch")
    console.print(f"tempo {record['tempo_bpm']:.2f} BPM · {record['beats_per_bar']}/4 · "
                  f"{len(record['beats'])} beats · "
                  f"{len(record['downbeats'])} bars · {len(record['sections'])} sections · "
                  f"{len(record['phrases'])} phrases")
    from tasks.analysis.beats import LOW_BEAT_CONFIDENCE, LOW_DOWNBEAT_CONFIDENCE

    beat, down = record["beat_confidence"], record["downbeat_confidence"]
    doubt = beat < LOW_BEAT_CONFIDENCE or down < LOW_DOWNBEAT_CONFIDENCE
    console.print(f"confidence: beats {beat:.2f}, downbeats {down:.2f}"
                  + (" [yellow]— low: check the grid by ear (--plot)[/yellow]" if doubt else ""))
    table = Table("section", "start", "end", "boundary strength", "phrases (bars)")
    for i, s in enumerate(record["sections"]):
        bars = [str(p["n_bars"]) for p in record["phrases"] if p["section"] == i]
        table.add_row(str(i), f"{s['start_s']:.2f}", f"{s['end_s']:.2f}",
                      f"{s['strength']:.1f}" if i else "—", " ".join(bars) or "—")
    console.print(table)
    total = sum(timings.values())
    console.print("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items())
                  + f" (total {total:.2f}s, {record['duration_s'] / max(total, 1e-9):.0f}× real time)")
    if plot is not None:
        console.print(f"plot written to {plot}")


def rebuild(
    library: Annotated[Path, typer.Option("--library", help="Folder of audio files (searched recursively).")],
    home: HomeOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    runner: RunnerOption = "threads",
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Files analysed at once (default: one per two cores).")] = None,
    dask_address: DaskAddressOption = None,
    chunk_size: Annotated[int | None, typer.Option(
        "--chunk-size", min=1, help="Files per task run (default: as few as keep a rebuild "
                                    "within 1,000 task runs).")] = None,
    file_timeout: Annotated[float, typer.Option(
        "--file-timeout", min=0, help="Seconds one file may take before it is recorded as a "
                                      "timeout failure (0: no limit).")] = 900.0,
    as_json: JsonOption = False,
) -> None:
    """The dataset flow: analyse new and changed audio, drop deleted files, refresh the FAISS
    index and the Parquet artifacts. Prints analysed/skipped/failed/removed/phrases/run_id."""
    from tasks.config import load_analysis_config

    if not library.is_dir():
        fail(f"{library}: library folder does not exist")
    check_runner(runner, dask_address)
    cfg = config_or_fail(load_analysis_config, config)
    from flows.dataset import rebuild_flow

    with failing(RuntimeError):  # another rebuild holds this home
        summary = rebuild_flow(library=library.resolve(), home=home_dir(home), db=db, config=cfg,
                               runner=runner, workers=workers, dask_address=dask_address,
                               chunk_size=chunk_size, file_timeout_s=file_timeout or None)

    def show() -> None:
        table = Table(*summary.keys(), title=f"rebuild of {library}")
        table.add_row(*(str(v) for v in summary.values()))
        console.print(table)

    emit(summary, as_json, show)


def _open_search(home: Path | None, db: str | None, for_search: bool = True):
    from storage.db import PhraseDatabase
    from storage.home import Home
    from storage.vector_index import load_or_rebuild
    from tasks.analysis.embedding import EMBEDDING_VERSION
    from tasks.dataset.search import EmbeddingVersionMismatch, left_out_of_search

    layout = Home(home_dir(home))
    if not layout.has_database(db):
        fail(f"{layout.root}: no phrase database here; run "
             f"`echelon rebuild --library DIR --home {layout.root}` first")
    database = PhraseDatabase.open(layout.db_url(db), read_only=True)
    if for_search:
        try:
            left_out = left_out_of_search(database)
        except EmbeddingVersionMismatch as error:
            fail(str(error))
        if left_out:
            print(f"echelon: warning: {left_out} phrases still carry vectors of another "
                  "embedding version and are left out; `echelon rebuild` re-embeds them",
                  file=sys.stderr)
    ids, vectors = database.embeddings(EMBEDDING_VERSION)
    index, _ = load_or_rebuild(layout.faiss, ids, vectors, EMBEDDING_VERSION)
    return database, index


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
    from tasks.analysis.audio import AudioError
    from tasks.dataset.search import EmbeddingVersionMismatch, embed_audio, phrase_vector
    from tasks.dataset.search import search as find

    if (audio is None) == (phrase is None):
        fail("give exactly one of --audio FILE or --phrase ID", code=2)
    database, index = _open_search(home, db)
    try:
        query = embed_audio(audio, start, end) if audio is not None else phrase_vector(database, phrase)
    except (AudioError, ValueError, KeyError) as error:
        fail(str(error).strip("'\""))
    with failing(EmbeddingVersionMismatch):
        hits = find(database, index, query, k, exclude_id=phrase)

    def show() -> None:
        table = Table("phrase_id", "track", "start", "end", "score",
                      title=f"{len(hits)} nearest phrases")
        for h in hits:
            table.add_row(str(h["phrase_id"]), h["track_path"], f"{h['start_s']:.2f}",
                          f"{h['end_s']:.2f}", f"{h['score']:.4f}")
        console.print(table)

    emit(hits, as_json, show)


def stats(home: HomeOption = None, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Summary of the phrase database: tracks, failures, phrases, hours, runs, index."""
    database, index = _open_search(home, db, for_search=False)
    summary = {**database.stats(), "index": index.kind, "index_size": index.size,
               "embedding_versions": database.embedding_versions()}
    print_summary(summary, as_json)


def sql(
    query: Annotated[str, typer.Argument(help="DuckDB SQL; views: tracks, beats, phrases, phrase_features, embeddings, tokens, evaluations.")],
    home: HomeOption = None,
    allow_writes: Annotated[bool, typer.Option(
        "--allow-writes", help="Let the query write files, attach databases and load "
                               "extensions (off: read-only over the artifacts).")] = False,
    as_json: JsonOption = False,
) -> None:
    """DuckDB SQL over the Parquet artifacts, read-only unless --allow-writes."""
    import duckdb

    from storage.home import Home
    from storage.parquet_store import query as run_query

    artifacts = Home(home_dir(home)).artifacts
    if not artifacts.is_dir():
        fail(f"{artifacts}: no artifacts yet; run `echelon rebuild` first")
    try:
        columns, rows = run_query(artifacts, query, allow_writes)
    except (duckdb.Error, ValueError) as error:
        fail(str(error).splitlines()[0])

    def show() -> None:
        table = Table(*columns)
        for r in rows:
            table.add_row(*(str(v) for v in r))
        console.print(table)

    emit([dict(zip(columns, r)) for r in rows], as_json, show)
