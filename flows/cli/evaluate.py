"""The evaluate command: one audio file against one recording, or a folder of renders with
floors and ceilings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli.common import (DbOption, HomeOption, JsonOption, config_or_fail, console, emit,
                              fail, failing, home_dir, print_rows)


def evaluate(
    audio: Annotated[Path | None, typer.Option("--audio", help="Audio to judge (e.g. a render).",
                                               dir_okay=False)] = None,
    performance: Annotated[Path | None, typer.Option(
        "--performance", help="The motion recording the audio should follow (.parquet/.csv).",
        dir_okay=False)] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="The audio the dancers heard: onsets are judged against it, and "
                            "its own figures are the ceiling.", dir_okay=False)] = None,
    offset: Annotated[float | None, typer.Option(
        "--offset", help="The pair's offset: reference time = recording time + S.")] = None,
    audio_offset: Annotated[float | None, typer.Option(
        "--audio-offset", help="Audio time = recording time + S (default: the audio starts "
                               "with the recording, as a render does).")] = None,
    renders: Annotated[Path | None, typer.Option(
        "--renders", help="A render folder (with renders.parquet): judge every render, with "
                          "floors and ceilings; writes evaluation.parquet there.",
        file_okay=False)] = None,
    mapper: Annotated[bool, typer.Option(
        "--mapper", help="Judge the home's motion → phrase mapper on its held-out pairs: "
                         "recall@1/5/10 and median rank of the paired phrase, beside tempo "
                         "alone, the hand-made rule and chance.")] = False,
    home: HomeOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """How well audio follows motion: tempo following, beat alignment (Beat Align Score,
    σ = 50 ms) and beat F (±70 ms) of the motion's accents against the audio's beats, onset
    coverage and hit (±50 ms) against the original, loudness and clipping. With --renders,
    every figure beside its floor (shuffled pairings) and ceiling (the original audio), and
    the Fréchet distance and KAD of the renders' phrases from the library's. With --mapper, how
    often the home's motion → phrase mapper finds the phrase a held-out recording was danced
    to."""
    if sum((renders is not None, mapper,
            any(x is not None for x in (audio, performance, reference)))) > 1:
        fail("give one of --renders DIR, --mapper, or --audio with --performance", code=2)
    if mapper:
        _evaluate_mapper(home, db, as_json)
        return
    if renders is not None:
        _evaluate_renders(renders, home, db, as_json)
        return
    if audio is None or performance is None:
        fail("--audio and --performance go together (or use --renders DIR)", code=2)
    if reference is None and offset is not None:
        fail("--offset is the reference's offset: it needs --reference", code=2)
    _evaluate_one(audio, performance, reference, offset, audio_offset, as_json)


def _evaluate_one(audio: Path, performance: Path, reference: Path | None, offset: float | None,
                  audio_offset: float | None, as_json: bool) -> None:
    from flows.evaluate import figure_text
    from tasks.analysis.audio import AudioError
    from tasks.config import load_analysis_config, load_echelon_config
    from tasks.evaluation.facts import audio_facts
    from tasks.evaluation.score import Pairing, ceiling, contract, render_offset, score
    from tasks.motion.recording import PerformanceError, load_performance

    analysis = config_or_fail(load_analysis_config)
    with failing(PerformanceError, AudioError):
        motion = load_performance(performance, config_or_fail(load_echelon_config).motion)
        facts = audio_facts(audio, analysis)
        same = reference is not None and reference.resolve() == audio.resolve()
        ref = facts if same else audio_facts(reference, analysis) if reference else None
    start = render_offset(motion) if audio_offset is None else audio_offset
    pairing = Pairing(facts, motion, start, ref, start if offset is None else offset)
    figures, best = score(pairing), ceiling(pairing)

    def show() -> None:
        table = Table("figure", "value", "ceiling (reference)",
                      title=f"{audio} against {performance}")
        for key, value in contract(figures).items():
            top = contract(best)[key] if best else None
            table.add_row(key, figure_text(value), figure_text(top))
        console.print(table)
        console.print("floors come from shuffled pairings: judge a folder with --renders DIR")
        if facts.error:
            console.print(f"[yellow]no beats or onsets: {facts.error}[/yellow]")

    emit(contract(figures), as_json, show)


def _evaluate_renders(renders: Path, home: Path | None, db: str | None, as_json: bool) -> None:
    from flows.evaluate import evaluate_flow, figure_text, summary_table

    from storage.render_manifest import MANIFEST_NAME

    if not (renders / MANIFEST_NAME).is_file():
        fail(f"{renders}: no {MANIFEST_NAME} here; run `echelon render` first")
    with failing(ValueError, first_line=True):
        result = evaluate_flow(renders=renders.resolve(), home=home_dir(home), db=db)
    summary = result["summary"]

    def show() -> None:
        table = Table("figure", "renders", "floor (shuffled)", "ceiling (original)",
                      title=f"{summary['renders']} renders in {renders}")
        for row in summary_table(summary):
            table.add_row(row["figure"], row["renders"], row["floor"], row["ceiling"])
        console.print(table)
        levels = " · ".join(f"{name} {figure_text(summary.get(name))}"
                            for name in ("lufs", "clipping", "silence"))
        console.print(f"{levels} · octave errors {summary['tempo_octave_errors']} · written to "
                      f"{result['evaluation']}")
        for item in result["skipped"]:
            console.print(f"[yellow]not evaluated: {item['performance']}: "
                          f"{item['reason']}[/yellow]")

    emit({**summary, "evaluation": result["evaluation"]}, as_json, show)


def _evaluate_mapper(home: Path | None, db: str | None, as_json: bool) -> None:
    from flows.mapper import held_out_evaluation
    from storage.checkpoints import CheckpointError
    from storage.home import Home

    with failing(CheckpointError, ValueError):
        rows = held_out_evaluation(Home(home_dir(home)), db)
    emit(rows, as_json, lambda: print_rows(rows, "the mapper on its held-out pairs"))
