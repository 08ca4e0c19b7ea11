"""`echelon evaluate --renders DIR`: how well a folder of renders follows its motion, each
figure beside its floor and ceiling, as Parquet and as a report with plots in the UI."""

from __future__ import annotations

import base64
import math
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from storage.db import PhraseDatabase
from storage.evaluation_store import EVALUATION_NAME, append_history, write_evaluation
from storage.home import Home
from storage.pair_manifest import read_pairs
from storage.render_manifest import MANIFEST_NAME, read_manifest
from storage.stamps import utc_now
from tasks.analysis.embedding import EMBEDDING_VERSION
from tasks.config import load_analysis_config, load_echelon_config
from tasks.evaluation.plots import plot_alignment, plot_floor_ceiling, plot_tempo
from tasks.evaluation.renders import RenderEvaluation, evaluate_renders, pair_renders
from tasks.evaluation.score import JUDGED

pair_task = task(name="measure renders and their originals", cache_policy=NO_CACHE)(pair_renders)
evaluate_task = task(name="score against floors and ceilings",
                     cache_policy=NO_CACHE)(evaluate_renders)


@flow(name="evaluate-renders", log_prints=True)
def evaluate_flow(renders: Path, home: Path, db: str | None = None) -> dict:
    """Judge every finished render of `renders` (from its manifest) against its recording,
    with floors (shuffled pairings) and ceilings (the home's motion-audio pairs); write
    `renders/evaluation.parquet`, append to the home's evaluations.parquet, publish the
    report. Returns the summary, the per-render rows and what was skipped."""
    renders, layout = Path(renders).resolve(), Home(home)
    manifest = renders / MANIFEST_NAME
    if not manifest.is_file():
        raise ValueError(f"{renders}: no {MANIFEST_NAME} here; run `echelon render` first")
    pairs = read_pairs(layout.pairs_manifest) if layout.pairs_manifest.is_file() else []
    analysis = load_analysis_config()
    pairings, records, skipped = pair_task(read_manifest(manifest), renders, pairs,
                                           load_echelon_config().motion, analysis)
    library = None
    if layout.has_database(db):
        # the renders' phrases are embedded now: only library vectors of the same version
        library = PhraseDatabase.open(layout.db_url(db)).embeddings(EMBEDDING_VERSION)[1]
    result = evaluate_task(pairings, records, library, analysis)
    stamp = {"evaluated_at": utc_now(), "renders_dir": str(renders)}
    rows = [{**stamp, **r} for r in result.rows]
    rows.append({**stamp, "performance": "(summary)", **result.summary})
    path = write_evaluation(rows, renders / EVALUATION_NAME)
    append_history(rows, layout.evaluations)
    for item in skipped:
        get_run_logger().warning("not evaluated: %s: %s", item["performance"], item["reason"])
    _publish(result, pairings, renders)
    return {"evaluation": str(path), "summary": _plain(result.summary),
            "rows": [_plain(r) for r in result.rows], "skipped": skipped}


def summary_table(summary: dict) -> list[dict]:
    """One row per judged figure: the renders' mean, its floor and its ceiling."""
    return [{"figure": key, "renders": figure_text(summary.get(key)),
             "floor": figure_text(summary.get(f"floor_{key}")),
             "ceiling": figure_text(summary.get(f"ceiling_{key}"))}
            for key in (*JUDGED, "frechet", "kad") if key in summary]


def _publish(result: RenderEvaluation, pairings, renders: Path) -> None:
    create_table_artifact(key="evaluation-summary", table=summary_table(result.summary),
                          description=f"Renders in {renders} between floor and ceiling")
    plots = renders / "evaluation_plots"
    images = [plot_tempo(result.rows, plots / "tempo.png"),
              plot_alignment(pairings, plots / "alignment.png"),
              plot_floor_ceiling(result.summary, plots / "floor_ceiling.png")] if pairings else []
    lines = ["# Evaluation", "", f"Renders in `{renders}`: {result.summary['renders']} judged.",
             "", "| figure | renders | floor (shuffled) | ceiling (original) |",
             "|---|---|---|---|"]
    lines += [f"| {r['figure']} | {r['renders']} | {r['floor']} | {r['ceiling']} |"
              for r in summary_table(result.summary)]
    levels = ", ".join(f"{name} {figure_text(result.summary.get(key))}" for name, key in (
        ("loudness (LUFS)", "lufs"), ("clipping", "clipping"), ("silence", "silence"),
        ("seam ratio", "seam_ratio")))
    lines += ["", f"Levels (no floor or ceiling: louder is not better): {levels}; tempo octave "
              f"errors: {result.summary['tempo_octave_errors']}.", ""]
    lines += [f"![{p.stem}](data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()})"
              for p in images]
    create_markdown_artifact(key="evaluation-report", markdown="\n".join(lines),
                             description="Does the audio follow the motion?")


def figure_text(value) -> str:
    """A figure for a person: three decimals, — where it does not apply."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _plain(row: dict) -> dict:
    """NaN → None, numpy scalars → Python: what JSON and the Prefect API can carry."""
    out = {}
    for key, value in row.items():
        if hasattr(value, "item"):
            value = value.item()
        out[key] = None if isinstance(value, float) and not math.isfinite(value) else value
    return out
