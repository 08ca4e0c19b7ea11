"""The tokenizer flows: `echelon train-vqvae` and `echelon tokenize` over the whole library."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from flows import notify
from storage.db import PhraseDatabase
from storage.home import Home
from storage.token_store import TokenSequence, read_tokens, write_tokens
from tasks.analysis.audio import AudioError
from tasks.config import VQVAEConfig, load_vqvae_config
from tasks.dataset.rebuild import chunked
from tasks.models.builders import load_tokenizer
from tasks.models.tokenizer import tokenize_file
from tasks.training.common import held_out_split
from tasks.training.vqvae import Validation, train_vqvae

SAVE_EVERY_TRACKS = 50  # tokens written this often, so a killed run keeps most of its work


def _train(config: VQVAEConfig, train_paths: list[str], val_paths: list[str],
           checkpoint_dir: Path, max_steps: int | None, device: str | None) -> dict:
    logger = get_run_logger()
    target = min(config.training.steps, max_steps or config.training.steps)
    progress = create_progress_artifact(0.0, key="vqvae-training-progress",
                                        description=f"Steps done of {target}")
    rows: list[dict] = []

    def on_step(step: int, entry: dict) -> None:
        if step % max(1, target // 100) == 0 or step == target:
            update_progress_artifact(progress, progress=100.0 * step / target)
            logger.info("step %d/%d loss %.4f (mel %.4f, stft %.4f) perplexity %.1f", step,
                        target, entry["loss"], entry["mel"], entry["stft"], entry["perplexity"])

    def on_validation(v: Validation) -> None:
        rows.append({k: round(x, 4) if isinstance(x, float) else x for k, x in vars(v).items()})
        logger.info("validation at step %d: mel distance %.4f, SI-SDR %.2f dB, perplexity "
                    "%.1f, codebook usage %.1f%%", v.step, v.mel_distance, v.si_sdr,
                    v.perplexity, 100 * v.codebook_usage)
        create_table_artifact(key="vqvae-validation", table=rows,
                              description="Validation on held-out tracks (mel distance, "
                                          "SI-SDR, codebook perplexity and usage) by step")

    result = train_vqvae(config, train_paths, val_paths, checkpoint_dir, max_steps, device,
                         on_step, on_validation)
    return {**result.summary(), "history": result.history,
            "validations": [vars(v) for v in result.validations]}


train_task = task(name="train vq-vae", cache_policy=NO_CACHE)(_train)


@flow(name="vqvae-training", log_prints=True)
def train_vqvae_flow(home: Path, config: VQVAEConfig | Path | None = None,
                     max_steps: int | None = None, db: str | None = None,
                     device: str | None = None) -> dict:
    """Train (or resume) the VQ-VAE on the phrase database's audio, holding out tracks for
    validation; returns checkpoint, steps and the last validation figures. `config` is a
    config or the path of its YAML (default configs/vqvae.yaml)."""
    if not isinstance(config, VQVAEConfig):
        config = load_vqvae_config(config)
    layout = Home(home)
    tracks = PhraseDatabase.open(layout.db_url(db)).audio_tracks()
    train_paths, val_paths = held_out_split([(t.path, t.content_hash) for t in tracks],
                                            config.training.val_share)
    get_run_logger().info("%d training tracks, %d held out", len(train_paths), len(val_paths))
    out = train_task(config, train_paths, val_paths, layout.vqvae_checkpoints, max_steps, device)
    first, last = out["validations"][0], out["validations"][-1]
    create_markdown_artifact(key="vqvae-training-report", markdown=_report(out, first, last),
                             description="Key figures of the VQ-VAE training run")
    return {k: out[k] for k in ("checkpoint", "steps", "val_mel_distance", "val_si_sdr",
                                "codebook_usage")}


def _report(out: dict, first: dict, last: dict) -> str:
    return "\n".join([
        "# VQ-VAE training", "",
        f"- checkpoint: `{out['checkpoint']}`",
        f"- steps: {out['steps']}",
        "", "| | start (step %d) | now (step %d) |" % (first["step"], last["step"]),
        "|---|---|---|",
        f"| mel distance | {first['mel_distance']:.4f} | {last['mel_distance']:.4f} |",
        f"| SI-SDR (dB) | {first['si_sdr']:.2f} | {last['si_sdr']:.2f} |",
        f"| codebook perplexity | {first['perplexity']:.1f} | {last['perplexity']:.1f} |",
        f"| codebook usage | {100 * first['codebook_usage']:.1f}% "
        f"| {100 * last['codebook_usage']:.1f}% |",
    ])


def _tokenize_chunk(checkpoint: Path, chunk_s: float, paths: list[str],
                    ) -> tuple[list[TokenSequence], list[dict]]:
    """Several tracks in one task run (a library of 100k tracks is at most 1,000 of them);
    a track that cannot be decoded is a failure with its reason, and the others go on."""
    tokenizer = _tokenizer(checkpoint, chunk_s)
    done, failures = [], []
    for path in paths:
        try:
            done.append(tokenize_file(tokenizer, path))
        except AudioError as error:
            failures.append({"path": path, "reason": error.reason, "detail": str(error)})
    return done, failures


def _chunk_run_name() -> str:
    paths = task_run.parameters["paths"]
    return f"tokenize {paths[0]}" + (f" and {len(paths) - 1} more" if len(paths) > 1 else "")


_loaded: dict[tuple[str, float], object] = {}


def _tokenizer(checkpoint: Path, chunk_s: float):
    """The model is loaded once per process, not once per track."""
    key = (str(checkpoint), chunk_s)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = load_tokenizer(checkpoint, chunk_s)
    return _loaded[key]


tokenize_task = task(name="tokenize tracks", cache_policy=NO_CACHE,
                     task_run_name=_chunk_run_name)(_tokenize_chunk)


@flow(name="tokenize-library", log_prints=True, **notify.HOOKS)
def tokenize_flow(home: Path, checkpoint: Path | None = None, db: str | None = None,
                  chunk_s: float = 30.0) -> dict:
    """Tokenize every analysed track that has no tokens from this model yet; drop tokens of
    tracks that left the database; write artifacts/tokens.parquet."""
    logger = get_run_logger()
    layout = Home(home)
    checkpoint = Path(checkpoint or layout.vqvae_checkpoint)
    version = _tokenizer(checkpoint, chunk_s).version
    tracks = PhraseDatabase.open(layout.db_url(db)).audio_tracks()
    current = {t.path: t.content_hash for t in tracks}
    stored = _stored_tokens(layout.tokens, logger)
    kept = {s.track_path: s for s in stored
            if current.get(s.track_path) == s.track_id and s.model_version == version}
    todo = [path for path in current if path not in kept]
    removed = len({s.track_path for s in stored} - set(current))
    logger.info("%d tracks: %d to tokenize, %d up to date, %d removed", len(current), len(todo),
                len(kept), removed)

    progress = create_progress_artifact(0.0 if todo else 100.0, key="tokenize-progress",
                                        description="Share of the tracks to tokenize that are done")
    failures, done, unsaved = [], 0, 0
    for paths in chunked(todo):
        tokens, failed = tokenize_task(checkpoint, chunk_s, paths)
        kept.update((t.track_path, t) for t in tokens)
        for failure in failed:
            logger.warning("failed: %s", failure["detail"])
        failures += failed
        done, unsaved = done + len(paths), unsaved + len(paths)
        if unsaved >= SAVE_EVERY_TRACKS:
            write_tokens(list(kept.values()), layout.tokens)
            unsaved = 0
        update_progress_artifact(progress, progress=100.0 * done / len(todo))
    if todo or removed or not layout.tokens.is_file():
        write_tokens(list(kept.values()), layout.tokens)

    summary = {"tokenized": len(todo) - len(failures), "skipped": len(current) - len(todo),
               "failed": len(failures), "removed": removed, "tracks": len(kept),
               "codes": int(sum(len(s.codes) for s in kept.values())),
               "tokens": str(layout.tokens), "model_version": version}
    create_table_artifact(key="tokenize-summary", table=[summary],
                          description="Tokenization of the library")
    create_table_artifact(key="tokenize-failures",
                          table=failures or [{"path": "—", "reason": "no failures", "detail": ""}],
                          description="Tracks that could not be tokenized, with the reason")
    return summary


def _stored_tokens(path: Path, logger) -> list[TokenSequence]:
    if not path.is_file():
        return []
    try:
        return read_tokens(path)
    except ValueError as error:  # unreadable: tokenize everything again
        logger.warning("%s; tokenizing every track again", error)
        return []
