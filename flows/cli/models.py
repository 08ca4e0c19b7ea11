"""Commands that train, use and export the models: train-vqvae, tokenize, detokenize,
train-diffusion, train-mapper, export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (CheckpointOption, DbOption, DeviceOption, DiffusionCheckpointOption,
                              HomeOption, JsonOption, MaxStepsOption, VQVAEConfigOption,
                              config_or_fail, console, diffusion_checkpoint, emit, fail, failing,
                              home_dir, print_rows, print_summary, vqvae_checkpoint)


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
    from storage.home import Home
    from tasks.config import load_vqvae_config
    from tasks.training.common import TrainingDiverged

    layout = Home(home_dir(home))
    cfg = config_or_fail(load_vqvae_config, config)
    if not layout.has_database(db):
        fail(f"{layout.root}: no phrase database here; run `echelon rebuild --library DIR "
             f"--home {layout.root}` first")
    from flows.vqvae import train_vqvae_flow

    with failing(TrainingDiverged, CheckpointError, ValueError):
        summary = train_vqvae_flow(home=layout.root, config=cfg, max_steps=max_steps, db=db,
                                   device=device)
    print_summary(summary, as_json)


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
    from tasks.config import load_vqvae_config

    chunk_s = config_or_fail(load_vqvae_config, config).tokenize.chunk_s
    path = vqvae_checkpoint(checkpoint, home)
    if audio is None:
        if out is not None:
            fail("--out goes with --audio; the library's tokens go to artifacts/tokens.parquet",
                 code=2)
        from flows.vqvae import tokenize_flow

        with failing(CheckpointError):
            summary = tokenize_flow(home=home_dir(home), checkpoint=path, db=db, chunk_s=chunk_s)
        print_summary(summary, as_json)
        return
    if out is None:
        fail("--audio needs --out CODES.parquet", code=2)
    from storage.token_store import write_tokens
    from tasks.analysis.audio import AudioError
    from tasks.models.builders import load_tokenizer
    from tasks.models.tokenizer import tokenize_file

    with failing(AudioError, CheckpointError):
        sequence = tokenize_file(load_tokenizer(path, chunk_s), audio)
    write_tokens([sequence], out)
    duration = sequence.n_samples / sequence.sample_rate
    record = {"n_codes": len(sequence.codes), "codes_per_second": len(sequence.codes) / duration,
              "duration_s": duration}
    emit(record, as_json, lambda: console.print(
        f"{audio}: {record['n_codes']} codes, {record['codes_per_second']:.1f} per "
        f"second over {duration:.2f} s → {out}"))


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
    from tasks.models.builders import load_tokenizer
    from tasks.models.tokenizer import decode

    with failing(FileNotFoundError, ValueError, ConfigError):
        sequences = read_tokens(codes)
        chunk_s = load_vqvae_config(config).tokenize.chunk_s
    if track is not None:
        sequences = [s for s in sequences if track in (s.track_path, s.track_id)]
    if len(sequences) != 1:
        fail(f"{codes}: holds {len(sequences)} matching tracks; choose one with --track "
             f"(path or id)")
    sequence = sequences[0]
    with failing(CheckpointError):
        tokenizer = load_tokenizer(vqvae_checkpoint(checkpoint, home), chunk_s)
    if tokenizer.version != sequence.model_version:
        fail(f"{codes}: tokens come from model version {sequence.model_version}, the checkpoint "
             f"is {tokenizer.version}; pass the matching --checkpoint")
    wave = decode(tokenizer, sequence.codes, sequence.n_samples)
    write_wav(out, wave.clip(-1.0, 1.0), sequence.sample_rate)
    record = {"wav": str(out), "duration_s": len(wave) / sequence.sample_rate,
              "n_codes": len(sequence.codes)}
    emit(record, as_json, lambda: console.print(f"{codes} → {out} ({record['duration_s']:.2f} s)"))


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
    from tasks.config import load_diffusion_config, load_echelon_config
    from tasks.motion.recording import PerformanceError
    from tasks.training.common import TrainingDiverged

    cfg = config_or_fail(load_diffusion_config, config)
    echelon = config_or_fail(load_echelon_config)
    from flows.diffusion import train_diffusion_flow

    with failing(TrainingDiverged, CheckpointError, PerformanceError, ValueError):
        summary = train_diffusion_flow(home=home_dir(home), config=cfg, echelon=echelon,
                                       max_steps=max_steps, device=device,
                                       vqvae_checkpoint=checkpoint)
    print_summary(summary, as_json)


def train_mapper(
    home: HomeOption = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Mapper config YAML (default: configs/mapper.yaml).",
        dir_okay=False)] = None,
    max_steps: MaxStepsOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train the motion → phrase mapper on --home's motion-audio pairs, or resume it: a small
    motion tower (on the diffusion model's conditioning encoder) learns to point at the phrase
    each stretch of dancing was danced to, among the index's phrase vectors (kept frozen).
    `echelon render --retrieval` uses it when its checkpoint exists. Prints checkpoint, steps,
    loss and the held-out evaluation (recall@1/5/10 of the paired phrase: the mapper with the
    tempo re-rank, tempo alone, the hand-made rule, chance)."""
    from storage.checkpoints import CheckpointError
    from tasks.config import load_mapper_config
    from tasks.training.common import TrainingDiverged

    cfg = config_or_fail(load_mapper_config, config)
    from flows.mapper import train_mapper_flow

    with failing(TrainingDiverged, CheckpointError, ValueError):
        summary = train_mapper_flow(home=home_dir(home), config=cfg, max_steps=max_steps, db=db)

    def show() -> None:
        for key in ("checkpoint", "steps", "loss", "windows", "train_windows"):
            console.print(f"{key:>13}: {summary[key]}")
        for item in summary["left_out"]:
            console.print(f"left out {item['pair']}: {item['reason']}")
        print_rows(summary["evaluation"], "held-out evaluation")

    emit(summary, as_json, show)


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
    diffusion_checkpoint_path: DiffusionCheckpointOption = None,
    checkpoint: CheckpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write what the real-time engine runs, from motion to waveform: the conditioning encoder
    and the denoiser of a diffusion checkpoint, the decoder of the VQ-VAE it was trained on
    (latents → nearest codes → audio), the null conditioning for guidance, the codebook and
    engine.json (latent scale, rates, hop, file names). Each model is checked against eager
    PyTorch; exits 1 when one differs by more than --tolerance. Prints the files and the
    differences."""
    from storage.checkpoints import CheckpointError
    from tasks.models.export import export_models
    from tasks.render.models import load_render_models

    if fmt not in ("onnx", "torchscript"):
        fail(f"--format {fmt!r}: choose onnx or torchscript", code=2)
    with failing(CheckpointError):
        models = load_render_models(diffusion_checkpoint(diffusion_checkpoint_path, home),
                                    vqvae_checkpoint(checkpoint, home), device="cpu")
    result = export_models(models.model, models.echelon, out, models.latent_rate, fmt, latents,
                           vqvae=models.tokenizer.model, latent_scale=models.latent_scale)
    print_summary(vars(result), as_json)
    worst = max(result.encoder_max_abs_diff, result.denoiser_max_abs_diff,
                result.decoder_max_abs_diff)
    if not worst <= tolerance:
        fail(f"exported models differ from PyTorch by {worst:.2e} (> {tolerance:g})")
