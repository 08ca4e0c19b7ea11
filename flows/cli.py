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


def print_summary(summary: dict, as_json: bool) -> None:
    """A flow's result: JSON on stdout, or one aligned line per key for a person."""
    if as_json:
        print(json.dumps(summary))
        return
    width = max(map(len, summary), default=0)
    for key, value in summary.items():
        console.print(f"{key:>{width}}: {value}")


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


DEMO_KEYS = ("phrase_db", "tokens", "vqvae_checkpoint", "diffusion_checkpoint", "manifest",
             "renders")


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="Data folder (default $ECHELON_HOME or ./echelon-data).")] = None,
    tracks: Annotated[int, typer.Option("--tracks", min=1, max=50, help="How many tracks (and performances) to generate.")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated library.")] = 7,
    vqvae_steps: Annotated[int, typer.Option("--vqvae-steps", min=1, help="Training steps of the tiny VQ-VAE.")] = 300,
    diffusion_steps: Annotated[int, typer.Option("--diffusion-steps", min=1, help="Training steps of the tiny diffusion model.")] = 300,
    seconds: Annotated[float, typer.Option("--seconds", min=30.0, max=600.0, help="Longest generated track (they last 4/7 of it up to it).")] = 70.0,
    as_json: JsonOption = False,
) -> None:
    """The whole mission on generated data, in a few minutes on a CPU: generate tracks with
    known beats and performances that dance to them → rebuild the phrase dataset → train the
    tiny VQ-VAE → tokenize → train the tiny diffusion model → render the performances. Each
    step is a Prefect flow run. --json prints phrase_db, tokens, vqvae_checkpoint,
    diffusion_checkpoint, manifest and renders."""
    from flows.demo import demo_flow

    home = (home or default_home()).resolve()
    summary = demo_flow(home=home, n_tracks=tracks, seed=seed, vqvae_steps=vqvae_steps,
                        diffusion_steps=diffusion_steps, max_seconds=seconds)
    if as_json:
        print(json.dumps({k: summary[k] for k in DEMO_KEYS}))
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
    table = Table("performance", "rendered audio", "seconds", title="renders")
    for row in summary["renders"]:
        table.add_row(Path(row["performance"]).name, row["wav"] or "failed",
                      f"{row['duration_s']:.1f}" if row["duration_s"] else "—")
    console.print(table)
    for label, key in (("phrase database", "phrase_db"), ("tokens", "tokens"),
                       ("VQ-VAE", "vqvae_checkpoint"), ("diffusion model", "diffusion_checkpoint"),
                       ("render manifest", "manifest"), ("motion-audio pairs", "pairs")):
        console.print(f"{label:>19}: {summary[key]}")
    api = os.environ.get("PREFECT_API_URL")
    if api:
        console.print(f"Prefect UI: {api.removesuffix('/api')}/runs (flow runs echelon-demo, "
                      f"dataset-rebuild, vqvae-training, tokenize-library, diffusion-training, "
                      f"render)")
    else:
        console.print(f"To see these runs in the Prefect UI: `echelon server --home {home}` in "
                      f"another shell, `export PREFECT_API_URL=http://127.0.0.1:4200/api`, then "
                      f"run the demo again and open http://127.0.0.1:4200/runs")
    console.print(f"try: echelon sql \"SELECT * FROM tracks\" --home {home}  ·  "
                  f"echelon render --performances {home / 'performances'} --out renders2 "
                  f"--home {home} --sampler dpm_solver --steps 20")


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
    runner: Annotated[str, typer.Option(
        "--runner", help="Where files are analysed: threads, processes, or dask (a local "
                         "cluster of --workers processes, or --dask-address).")] = "threads",
    workers: Annotated[int | None, typer.Option("--workers", min=1,
                                                help="Files analysed at once (default: one per two cores).")] = None,
    dask_address: Annotated[str | None, typer.Option(
        "--dask-address", help="Dask scheduler to run on, e.g. tcp://10.0.0.5:8786.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The dataset flow: analyse new and changed audio, drop deleted files, refresh the FAISS
    index and the Parquet artifacts. Prints analysed/skipped/failed/removed/phrases/run_id."""
    from tasks.config import ConfigError, load_analysis_config

    if not library.is_dir():
        fail(f"{library}: library folder does not exist")
    if runner not in ("threads", "processes", "dask"):
        fail(f"--runner {runner!r}: choose threads, processes or dask", code=2)
    if dask_address and runner != "dask":
        fail("--dask-address needs --runner dask", code=2)
    try:
        cfg = load_analysis_config(config)
    except ConfigError as error:
        fail(str(error))
    from flows.dataset import rebuild_flow

    try:
        summary = rebuild_flow(library=library.resolve(), home=(home or default_home()).resolve(),
                               db=db, config=cfg, runner=runner, workers=workers,
                               dask_address=dask_address)
    except RuntimeError as error:  # another rebuild holds this home
        fail(str(error))
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
    print_summary(summary, as_json)


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


VQVAEConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="VQ-VAE config YAML (default: configs/vqvae.yaml, the full-size "
                                  "model; configs/tiny/vqvae.yaml trains in minutes on a CPU).",
                 dir_okay=False),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="VQ-VAE checkpoint (default: checkpoints/vqvae/vqvae.pt "
                                      "in --home).", dir_okay=False),
]


MaxStepsOption = Annotated[int | None, typer.Option(
    "--max-steps", min=1, help="Stop at this step (the schedule still follows the config's "
                               "steps, so a later run resumes on the same curve).")]
DeviceOption = Annotated[str | None, typer.Option(
    "--device", help="cuda, cuda:1 or cpu (default: CUDA when available).")]


def _vqvae_checkpoint(checkpoint: Path | None, home: Path | None) -> Path:
    from storage.home import Home

    path = checkpoint or Home(home or default_home()).vqvae_checkpoints / "vqvae.pt"
    if not path.is_file():
        fail(f"{path}: no VQ-VAE checkpoint; run `echelon train-vqvae` first or pass --checkpoint")
    return path


@app.command("train-vqvae")
def train_vqvae(
    home: HomeOption = None,
    config: VQVAEConfigOption = None,
    max_steps: MaxStepsOption = None,
    db: DbOption = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the VQ-VAE audio tokenizer on the phrase database's audio (random crops), or resume
    the run in --home. Validates on held-out tracks; prints checkpoint, steps, val_mel_distance,
    val_si_sdr and codebook_usage."""
    from storage.checkpoints import CheckpointError
    from tasks.config import ConfigError, load_vqvae_config
    from tasks.train import TrainingDiverged

    layout_home = (home or default_home()).resolve()
    try:
        cfg = load_vqvae_config(config)
    except ConfigError as error:
        fail(str(error))
    if db is None and not (layout_home / "phrases.db").is_file():
        fail(f"{layout_home}: no phrase database here; run `echelon rebuild --library DIR "
             f"--home {layout_home}` first")
    from flows.vqvae import train_vqvae_flow

    try:
        summary = train_vqvae_flow(home=layout_home, config=cfg, max_steps=max_steps, db=db,
                                   device=device)
    except (TrainingDiverged, CheckpointError, ValueError) as error:
        fail(str(error))
    print_summary(summary, as_json)


@app.command()
def tokenize(
    audio: Annotated[Path | None, typer.Option("--audio", help="Tokenize this one file "
                                                               "(with --out).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Token Parquet for --audio.",
                                             dir_okay=False)] = None,
    checkpoint: CheckpointOption = None,
    home: HomeOption = None,
    db: DbOption = None,
    config: VQVAEConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audio → VQ-VAE tokens in Parquet. Without --audio: every analysed track of the phrase
    database that has no tokens from this model yet, into artifacts/tokens.parquet."""
    from storage.checkpoints import CheckpointError
    from tasks.config import ConfigError, load_vqvae_config

    try:
        chunk_s = load_vqvae_config(config).tokenize.chunk_s
    except ConfigError as error:
        fail(str(error))
    path = _vqvae_checkpoint(checkpoint, home)
    if audio is None:
        if out is not None:
            fail("--out goes with --audio; the library's tokens go to artifacts/tokens.parquet",
                 code=2)
        from flows.vqvae import tokenize_flow

        try:
            summary = tokenize_flow(home=(home or default_home()).resolve(), checkpoint=path,
                                    db=db, chunk_s=chunk_s)
        except CheckpointError as error:
            fail(str(error))
        print_summary(summary, as_json)
        return
    if out is None:
        fail("--audio needs --out CODES.parquet", code=2)
    from storage.token_store import write_tokens
    from tasks.audio import AudioError
    from tasks.tokenize import load_tokenizer, tokenize_file

    try:
        sequence = tokenize_file(load_tokenizer(path, chunk_s), audio)
    except (AudioError, CheckpointError) as error:
        fail(str(error))
    write_tokens([sequence], out)
    duration = sequence.n_samples / sequence.sample_rate
    record = {"n_codes": len(sequence.codes), "codes_per_second": len(sequence.codes) / duration,
              "duration_s": duration}
    if as_json:
        print(json.dumps(record))
        return
    console.print(f"{audio}: {record['n_codes']} codes, {record['codes_per_second']:.1f} per "
                  f"second over {duration:.2f} s → {out}")


@app.command()
def detokenize(
    codes: Annotated[Path, typer.Argument(help="Token Parquet written by `echelon tokenize`.")],
    out: Annotated[Path, typer.Option("--out", help="WAV file to write (44.1 kHz, 16-bit).",
                                      dir_okay=False)],
    track: Annotated[str | None, typer.Option("--track", help="Which track, when the file holds "
                                                              "several (path or id).")] = None,
    checkpoint: CheckpointOption = None,
    home: HomeOption = None,
    config: VQVAEConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """VQ-VAE tokens → audio of the original length."""
    from storage.atomic import write_wav
    from storage.checkpoints import CheckpointError
    from storage.token_store import read_tokens
    from tasks.config import ConfigError, load_vqvae_config
    from tasks.tokenize import decode, load_tokenizer

    try:
        sequences = read_tokens(codes)
        chunk_s = load_vqvae_config(config).tokenize.chunk_s
    except (FileNotFoundError, ValueError, ConfigError) as error:
        fail(str(error))
    if track is not None:
        sequences = [s for s in sequences if track in (s.track_path, s.track_id)]
    if len(sequences) != 1:
        fail(f"{codes}: holds {len(sequences)} matching tracks; choose one with --track "
             f"(path or id)")
    sequence = sequences[0]
    try:
        tokenizer = load_tokenizer(_vqvae_checkpoint(checkpoint, home), chunk_s)
    except CheckpointError as error:
        fail(str(error))
    if tokenizer.version != sequence.model_version:
        fail(f"{codes}: tokens come from model version {sequence.model_version}, the checkpoint "
             f"is {tokenizer.version}; pass the matching --checkpoint")
    wave = decode(tokenizer, sequence.codes, sequence.n_samples)
    write_wav(out, wave.clip(-1.0, 1.0), sequence.sample_rate)
    record = {"wav": str(out), "duration_s": len(wave) / sequence.sample_rate,
              "n_codes": len(sequence.codes)}
    if as_json:
        print(json.dumps(record))
        return
    console.print(f"{codes} → {out} ({record['duration_s']:.2f} s)")


@app.command("train-diffusion")
def train_diffusion(
    home: HomeOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Diffusion config YAML (default: configs/diffusion.yaml, full size; "
                         "configs/tiny/diffusion.yaml trains on a CPU).", dir_okay=False)] = None,
    max_steps: MaxStepsOption = None,
    checkpoint: CheckpointOption = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the motion-conditioned diffusion model on --home's motion-audio pairs
    (motion_audio_pairs.parquet) over the latents of artifacts/tokens.parquet, or resume it.
    Prints checkpoint, steps and val_loss."""
    from storage.checkpoints import CheckpointError
    from tasks.config import ConfigError, load_diffusion_config, load_echelon_config
    from tasks.motion import PerformanceError
    from tasks.train import TrainingDiverged

    try:
        cfg, echelon = load_diffusion_config(config), load_echelon_config()
    except ConfigError as error:
        fail(str(error))
    from flows.diffusion import train_diffusion_flow

    try:
        summary = train_diffusion_flow(home=(home or default_home()).resolve(), config=cfg,
                                       echelon=echelon, max_steps=max_steps, device=device,
                                       vqvae_checkpoint=checkpoint)
    except (TrainingDiverged, CheckpointError, PerformanceError, ValueError) as error:
        fail(str(error))
    print_summary(summary, as_json)


DiffusionCheckpointOption = Annotated[
    Path | None,
    typer.Option("--diffusion-checkpoint", help="Diffusion checkpoint (default: "
                                                "checkpoints/diffusion/diffusion.pt in --home).",
                 dir_okay=False),
]


def _diffusion_checkpoint(checkpoint: Path | None, home: Path) -> Path:
    from storage.home import Home

    path = checkpoint or Home(home).diffusion_checkpoints / "diffusion.pt"
    if not path.is_file():
        fail(f"{path}: no diffusion checkpoint; run `echelon train-diffusion` first or pass "
             f"--diffusion-checkpoint")
    return path


@app.command()
def render(
    performances: Annotated[Path, typer.Option("--performances", help="Folder of performance "
                                               "recordings (.parquet/.csv, searched recursively).",
                                               file_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the WAVs and renders.parquet.",
                                      file_okay=False)],
    home: HomeOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Render config YAML (default: configs/render.yaml).",
        dir_okay=False)] = None,
    sampler: Annotated[str | None, typer.Option(
        "--sampler", help="ddim or dpm_solver (euler/heun for flow-matching models); default: "
                          "the config's, else the checkpoint's.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Sampling steps.")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", min=0.0,
                                                   help="Classifier-free guidance scale.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1,
                                                   help="Chunks denoised at once.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (default: the config's).")] = None,
    retrieval: Annotated[bool | None, typer.Option(
        "--retrieval/--no-retrieval", help="Start each chunk from a library phrase of matching "
                                           "tempo and energy (needs rebuild + tokenize).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Render again what is already "
                                                        "rendered with the same settings.")] = False,
    diffusion_checkpoint: DiffusionCheckpointOption = None,
    checkpoint: CheckpointOption = None,
    device: DeviceOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render every performance in a folder to 44.1 kHz WAV, in batches of equal-length
    chunks stitched without seams; write renders.parquet (seed, sampler, checkpoints' hashes,
    timings) beside them. A re-run skips finished renders; a bad recording is recorded as
    failed and the rest go on (exit 1 if any failed). --json prints one record per
    performance."""
    from storage.checkpoints import CheckpointError
    from storage.locks import FolderBusy
    from tasks.config import ConfigError, load_render_config

    if not performances.is_dir():
        fail(f"{performances}: performance folder does not exist")
    home = (home or default_home()).resolve()
    try:
        cfg = load_render_config(config)
    except ConfigError as error:
        fail(str(error))
    diffusion_path = _diffusion_checkpoint(diffusion_checkpoint, home)
    vqvae_path = _vqvae_checkpoint(checkpoint, home)
    overrides = {k: v for k, v in (("kind", sampler), ("steps", steps),
                                   ("guidance_scale", guidance)) if v is not None}
    cfg = cfg.model_copy(update={k: v for k, v in (("batch_size", batch_size), ("seed", seed))
                                 if v is not None})
    from flows.render import render_flow

    try:
        summary = render_flow(performances=performances.resolve(), out=out.resolve(), home=home,
                              config=cfg, diffusion_checkpoint=diffusion_path,
                              vqvae_checkpoint=vqvae_path, force=force, retrieval=retrieval,
                              device=device, db=db, sampler=overrides or None)
    except (CheckpointError, FolderBusy, ValueError) as error:
        fail(str(error).splitlines()[0])
    actions = {**{p: "rendered" for p in summary["rendered"]},
               **{p: "skipped" for p in summary["skipped"]},
               **{p: "failed" for p in summary["failed"]}}
    records = [{**r, "action": actions[r["performance"]],
                "wav": str(Path(summary["out"]) / r["wav"]) if r["wav"] else None}
               for r in summary["records"]]
    if as_json:
        print(json.dumps(records))
    else:
        table = Table("performance", "result", "wav", "seconds", "seed", "seam", "time (s)",
                      title=f"renders in {summary['out']} (manifest {summary['manifest']})")
        for r in records:
            seconds = sum(r[k] or 0.0 for k in ("conditioning_s", "sampling_s", "decoding_s",
                                                 "writing_s"))
            table.add_row(Path(r["performance"]).name, r["action"],
                          Path(r["wav"]).name if r["wav"] else (r["error"] or "")[:80],
                          f"{r['duration_s']:.1f}" if r["duration_s"] else "—",
                          str(r["seed"] or "—"),
                          f"{r['seam_ratio']:.2f}" if r["seam_ratio"] is not None else "—",
                          f"{seconds:.1f}" if r["action"] == "rendered" else "—")
        console.print(table)
    if summary["failed"]:
        first = next(r for r in records if r["action"] == "failed")
        fail(f"{len(summary['failed'])} performance(s) not rendered; first: {first['error']}")


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for the exported files.",
                                      file_okay=False)],
    home: HomeOption = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx (dynamic batch and time; run by "
                                                      "onnxruntime) or torchscript (traced at "
                                                      "--latents).")] = "onnx",
    latents: Annotated[int, typer.Option("--latents", min=8, help="Latent frames of the example "
                                                                  "input (the engine's chunk).")] = 1024,
    tolerance: Annotated[float, typer.Option("--tolerance", min=0.0, help="Largest absolute "
                                             "difference from eager PyTorch accepted.")] = 1e-3,
    diffusion_checkpoint: DiffusionCheckpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the conditioning encoder and the denoiser of a diffusion checkpoint for the
    real-time engine (plus the null conditioning for guidance), and check each against eager
    PyTorch; exits 1 when they differ by more than --tolerance. Prints the files and the
    differences."""
    from storage.checkpoints import CheckpointError
    from tasks.export import export_models
    from tasks.train_diffusion import load_diffusion

    if fmt not in ("onnx", "torchscript"):
        fail(f"--format {fmt!r}: choose onnx or torchscript", code=2)
    home = (home or default_home()).resolve()
    try:
        model, _, echelon, _ = load_diffusion(_diffusion_checkpoint(diffusion_checkpoint, home))
    except CheckpointError as error:
        fail(str(error))
    result = export_models(model, echelon, out, fmt, latents)
    print_summary(vars(result), as_json)
    worst = max(result.encoder_max_abs_diff, result.denoiser_max_abs_diff)
    if not worst <= tolerance:
        fail(f"exported models differ from PyTorch by {worst:.2e} (> {tolerance:g})")


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


@app.command()
def server(
    home: HomeOption = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535,
                                             help="API and UI port (default: configs/service.yaml, 4200).")] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1: "
                                                            "this machine only).")] = None,
) -> None:
    """Start Prefect's own server (API and UI) for Echelon: loopback, analytics off, its
    database under --home/prefect. Runs until stopped (Ctrl-C)."""
    from tasks.config import load_service_config

    service = load_service_config().server
    host, port = host or service.host, port or service.port
    layout_home = (home or default_home()).resolve()
    prefect_home = layout_home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    api = f"http://{host}:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": api, "PREFECT_API_URL": api}
    print(f"Prefect server for {layout_home}: UI http://{host}:{port}  ·  API {api}\n"
          f"In other shells: export PREFECT_API_URL={api}", file=sys.stderr, flush=True)
    prefect = Path(sys.executable).with_name("prefect")
    os.execve(prefect, [str(prefect), "server", "start", "--host", host, "--port", str(port)], env)


@app.command()
def serve(
    home: HomeOption = None,
    library: Annotated[Path | None, typer.Option("--library", help="Music folder of the nightly "
                                                                   "rebuild (default: configs/service.yaml).")] = None,
    service_config: Annotated[Path | None, typer.Option(
        "--config", help="Service config YAML (default: configs/service.yaml).",
        dir_okay=False)] = None,
) -> None:
    """Register Echelon's deployments with the Prefect server at $PREFECT_API_URL and run
    their flows when scheduled or triggered: nightly-rebuild (cron from the config), tokenize,
    train-vqvae, train-diffusion, render. Runs until stopped (Ctrl-C)."""
    from tasks.config import ConfigError, load_service_config

    if not os.environ.get("PREFECT_API_URL"):
        fail("PREFECT_API_URL is not set: start `echelon server` and export the URL it prints")
    try:
        service = load_service_config(service_config)
    except ConfigError as error:
        fail(str(error))
    from prefect import serve as prefect_serve

    from deployments.service import build_deployments

    try:
        deployments = build_deployments(service, (home or default_home()), library)
    except ValueError as error:
        fail(str(error))
    prefect_serve(*deployments, pause_on_shutdown=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
