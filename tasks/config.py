"""Configuration models: YAML under configs/, validated into frozen pydantic models."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"

# The performance recording format (a public contract): z0…z24 from phones 0 and 1.
RECORDING_LATENT_DIM = 25
RECORDING_DEVICES = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BeatsConfig(_Frozen):
    backend: Literal["madmom", "librosa"] = "madmom"
    min_bpm: float = Field(60.0, gt=20)
    max_bpm: float = Field(200.0, lt=400)
    # the tempi the tracker itself searches, where it is reliable; a beat grid moves an octave
    # up or down from there, within min_bpm–max_bpm, only on the drums' evidence (the bar's
    # evidence alone halves no lower than the low end: two-bar phrases at 120–150 look alike)
    tracker_bpm: tuple[float, float] = (75.0, 165.0)
    # the meters a track may have (beats per bar); madmom's tracker chooses among them per track
    beats_per_bar: tuple[int, ...] = (3, 4)
    tempo_tolerance: float = Field(0.04, gt=0, lt=0.5)

    @field_validator("beats_per_bar", mode="before")
    @classmethod
    def _meters(cls, value):
        meters = (value,) if isinstance(value, int) else tuple(value)
        if not meters or any(not isinstance(m, int) or not 2 <= m <= 12 for m in meters):
            raise ValueError("beats_per_bar: one or more whole numbers from 2 to 12, e.g. [3, 4]")
        return tuple(sorted(set(meters)))

    @model_validator(mode="after")
    def _range(self) -> "BeatsConfig":
        if self.max_bpm <= self.min_bpm * 1.5:
            raise ValueError("max_bpm must be at least 1.5 × min_bpm so every tempo has a place")
        low, high = self.tracker_bpm
        if not self.min_bpm <= low < high <= self.max_bpm or high < 1.5 * low:
            raise ValueError("tracker_bpm: [low, high] inside [min_bpm, max_bpm], high at least "
                             "1.5 × low, e.g. [75, 165]")
        return self


class SectionsConfig(_Frozen):
    min_bars: int = Field(4, ge=1)
    novelty_window: int = Field(4, ge=1)
    novelty_threshold: float = Field(2.0, ge=0)


class PhrasesConfig(_Frozen):
    bars: Literal[4, 8, 16] = 8


class AnalysisConfig(_Frozen):
    sample_rate: int = Field(44100, ge=8000)
    feature_sample_rate: int = Field(22050, ge=8000)
    beats: BeatsConfig = BeatsConfig()
    sections: SectionsConfig = SectionsConfig()
    phrases: PhrasesConfig = PhrasesConfig()


class MotionConfig(_Frozen):
    """How performance recordings are checked and put on one clock."""

    frame_rate: float = Field(30.0, gt=0, le=1000)  # conditioning frames per second
    window_past: int = Field(30, ge=0)
    window_future: int = Field(15, ge=0)
    max_dropout_s: float = Field(0.25, ge=0)  # longer NaN/Inf runs are errors, shorter are filled
    max_gap_s: float = Field(0.5, gt=0)  # longest allowed silence of one device's clock
    max_abs_value: float = Field(1000.0, gt=0)  # a LatentState value beyond this is junk
    max_duration_s: float = Field(4 * 3600.0, gt=0)  # longest performance accepted


class EncoderConfig(_Frozen):
    """The Echelon conditioning encoder: motion windows → one 256-d vector per frame."""

    input_dim: int = Field(RECORDING_LATENT_DIM, ge=1)
    trajectory_dim: int = Field(64, ge=1)
    dynamics_dim: int = Field(64, ge=1)
    transition_dim: int = Field(16, ge=1)
    device_dim: int = Field(32, ge=1)
    n_devices: int = Field(RECORDING_DEVICES, ge=1)
    output_dim: int = Field(256, ge=1)


class EchelonConfig(_Frozen):
    motion: MotionConfig = MotionConfig()
    encoder: EncoderConfig = EncoderConfig()

    @property
    def window(self) -> int:
        return self.motion.window_past + 1 + self.motion.window_future

    @model_validator(mode="after")
    def _fits_recordings(self) -> "EchelonConfig":
        if (self.encoder.input_dim, self.encoder.n_devices) != (RECORDING_LATENT_DIM,
                                                                RECORDING_DEVICES):
            raise ValueError(f"encoder.input_dim and n_devices must be {RECORDING_LATENT_DIM} and "
                             f"{RECORDING_DEVICES}: recordings hold z0…z24 from phones 0 and 1")
        return self


class VQVAEModelConfig(_Frozen):
    """The tokenizer's shape: total stride = product of `strides` (64 → ≈689 codes/s)."""

    sample_rate: int = Field(44100, ge=8000)
    channels: int = Field(64, ge=1)  # first layer; doubled at each downsampling
    strides: tuple[int, ...] = (4, 4, 4)
    codebook_size: int = Field(2048, ge=2, le=32767)  # codes are stored as int16
    codebook_dim: int = Field(64, ge=1)
    commitment: float = Field(0.25, ge=0)
    ema_decay: float = Field(0.99, gt=0, lt=1)
    dead_code_threshold: float = Field(1.0, ge=0)  # EMA count under which a code restarts

    @property
    def hop(self) -> int:
        """Audio samples per latent frame: the product of the strides."""
        return math.prod(self.strides)

    @property
    def latent_rate(self) -> float:
        """Latent frames (codes) per second: 44,100 / 64 ≈ 689 at full size."""
        return self.sample_rate / self.hop

    @model_validator(mode="after")
    def _strides(self) -> "VQVAEModelConfig":
        if not self.strides or any(s < 2 for s in self.strides):
            raise ValueError("strides must be one or more integers ≥ 2")
        return self


class LossWeights(_Frozen):
    stft: float = Field(1.0, ge=0)
    mel: float = Field(1.0, ge=0)
    waveform: float = Field(0.1, ge=0)


class AudioAugmentConfig(_Frozen):
    """Augmentations that keep the reconstruction target (each crop is input and target)."""

    enabled: bool = True
    loudness_db: float | None = -20.0  # each crop's RMS level brought here first; null: as is
    max_boost_db: float = Field(30.0, ge=0)  # a near-silent crop is not raised further
    gain_db: float = Field(6.0, ge=0)  # then a random gain in ±gain_db
    polarity: float = Field(0.5, ge=0, le=1)  # probability of flipping the sign
    workers: int = Field(1, ge=1)  # threads that read and augment a batch's crops


class MotionAugmentConfig(_Frozen):
    """Augmentations of the motion side of a pair (the latents follow a time-warp)."""

    enabled: bool = True
    warp: float = Field(0.05, ge=0, lt=0.5)  # time stretched by a factor in [1 − warp, 1 + warp]
    noise: float = Field(0.02, ge=0)  # sensor noise: its std in LatentState units
    drop_phone: float = Field(0.2, ge=0, le=1)  # probability that one of two phones is dropped
    workers: int = Field(1, ge=1)  # threads that read and augment a batch's crops


class VQVAETrainingConfig(_Frozen):
    steps: int = Field(100_000, ge=1)  # length of the learning-rate schedule
    batch_size: int = Field(16, ge=1)
    crop_s: float = Field(1.0, gt=0)
    lr: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(1000, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    val_every: int = Field(1000, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    val_share: float = Field(0.1, gt=0, lt=1)  # share of tracks held out (at least one)
    val_crops: int = Field(16, ge=1)
    seed: int = 0
    loss: LossWeights = LossWeights()
    augment: AudioAugmentConfig = AudioAugmentConfig()


class TokenizeConfig(_Frozen):
    chunk_s: float = Field(30.0, gt=0)  # long files are encoded this much at a time


class VQVAEConfig(_Frozen):
    model: VQVAEModelConfig = VQVAEModelConfig()
    training: VQVAETrainingConfig = VQVAETrainingConfig()
    tokenize: TokenizeConfig = TokenizeConfig()


class UNetConfig(_Frozen):
    base_channels: int = Field(256, ge=4)
    channel_mults: tuple[int, ...] = (1, 2, 4, 8)
    attention_at: tuple[int, ...] = (4, 8)  # downsampling factors with self/cross-attention
    heads: int = Field(8, ge=1)
    res_blocks: int = Field(2, ge=1)


class DiTConfig(_Frozen):
    width: int = Field(512, ge=8)
    depth: int = Field(12, ge=1)
    heads: int = Field(8, ge=1)
    patch: int = Field(4, ge=1)  # latent frames per token


class DiffusionModelConfig(_Frozen):
    backbone: Literal["unet", "dit"] = "unet"
    latent_dim: int = Field(64, ge=1)  # the VQ-VAE's codebook dimension
    unet: UNetConfig = UNetConfig()
    dit: DiTConfig = DiTConfig()


class NoiseConfig(_Frozen):
    objective: Literal["diffusion", "flow_matching"] = "diffusion"
    schedule: Literal["linear", "cosine"] = "cosine"
    train_steps: int = Field(1000, ge=2)
    prediction: Literal["epsilon", "v"] = "v"
    snr_gamma: float | None = Field(5.0, gt=0)  # Min-SNR-γ loss weighting; null: unweighted


class SamplerConfig(_Frozen):
    kind: Literal["ddim", "ddpm", "dpm_solver", "euler", "heun"] = "ddim"
    steps: int = Field(50, ge=1)
    eta: float = Field(0.0, ge=0, le=1)  # DDIM only
    guidance_scale: float = Field(3.0, ge=0)


class DiffusionTrainingConfig(_Frozen):
    steps: int = Field(200_000, ge=1)  # length of the learning-rate schedule
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1)
    crop_latents: int = Field(1024, ge=8)  # ≈1.5 s of audio at 689 latent frames/s
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(1000, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)
    cond_dropout: float = Field(0.1, ge=0, le=1)  # for classifier-free guidance
    val_every: int = Field(2000, ge=1)
    checkpoint_every: int = Field(2000, ge=1)
    val_share: float = Field(0.2, gt=0, lt=1)  # share of pairs held out (at least one)
    val_crops: int = Field(8, ge=1)
    val_levels: int = Field(5, ge=1)  # validation loss at this many noise levels
    val_renders: int = Field(2, ge=0)
    seed: int = 0
    augment: MotionAugmentConfig = MotionAugmentConfig()


class DiffusionConfig(_Frozen):
    model: DiffusionModelConfig = DiffusionModelConfig()
    noise: NoiseConfig = NoiseConfig()
    sampler: SamplerConfig = SamplerConfig()
    training: DiffusionTrainingConfig = DiffusionTrainingConfig()

    @model_validator(mode="after")
    def _sampler_fits_objective(self) -> "DiffusionConfig":
        flow = self.noise.objective == "flow_matching"
        if flow != (self.sampler.kind in ("euler", "heun")):
            wanted = "euler or heun" if flow else "ddpm, ddim or dpm_solver"
            raise ValueError(f"sampler.kind {self.sampler.kind!r} does not fit objective "
                             f"{self.noise.objective!r}: use {wanted}")
        if self.sampler.kind in ("ddpm", "ddim", "dpm_solver") and \
                self.sampler.steps > self.noise.train_steps:
            raise ValueError("sampler.steps cannot exceed noise.train_steps")
        return self


class RetrievalConfig(_Frozen):
    """Start each chunk from a library phrase's latents, partly noised (SDEdit)."""
    enabled: bool = False
    strength: float = Field(0.7, gt=0, le=1)  # how far towards pure noise the phrase is taken
    tempo_tolerance: float = Field(0.04, gt=0, lt=1)  # relative tempo difference that counts as 1
    energy_weight: float = Field(1.0, ge=0)  # weight of the energy-rank difference


class RenderConfig(_Frozen):
    chunk_s: float = Field(6.0, gt=0)  # every chunk has this length, so chunks batch
    overlap_s: float = Field(1.0, ge=0)  # generated to agree with the chunk before, cross-faded
    batch_size: int = Field(4, ge=1)  # chunks denoised at once
    # torch's CPU threads in every render worker: renders are byte-identical however many
    # workers share them as long as this is the same (another value changes the last bits)
    threads: int = Field(2, ge=1)
    sampler: SamplerConfig | None = None  # null: the diffusion checkpoint's own sampler
    seed: int = 0  # each performance's seed derives from this and its content
    retrieval: RetrievalConfig = RetrievalConfig()

    @model_validator(mode="after")
    def _overlap_fits(self) -> "RenderConfig":
        if self.overlap_s * 2 > self.chunk_s:
            raise ValueError("overlap_s can be at most half of chunk_s")
        return self


class MapperConfig(_Frozen):
    """The motion → phrase mapper (`echelon train-mapper`) and how renders use it."""

    steps: int = Field(300, ge=1)
    batch_size: int = Field(32, ge=2)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    hidden: int = Field(128, ge=8)
    dropout: float = Field(0.3, ge=0, lt=1)  # few pairs: the tower must not learn them by heart
    components: int = Field(8, ge=1)  # the encoder's features enter through their main directions
    window_steps: int = Field(16, ge=2)  # a phrase's motion in this many equal steps
    temperature: float = Field(0.07, gt=0)  # InfoNCE's starting temperature (then learned)
    same_above: float = Field(0.9, gt=-1, le=1)  # phrase similarity above which no negative
    min_coverage: float = Field(0.9, gt=0, le=1)  # share of a phrase the recording must cover
    val_share: float = Field(0.25, gt=0, lt=1)  # of tracks, and of recordings, held out
    val_every: int = Field(100, ge=1)
    checkpoint_every: int = Field(100, ge=1)
    rerank_k: int = Field(200, ge=1)  # the index's top-k, re-ranked by tempo
    tempo_weight: float = Field(2.0, ge=0)  # similarity one tempo tolerance away costs
    seed: int = 0


class ServerConfig(_Frozen):
    host: str = "127.0.0.1"  # loopback unless told otherwise
    port: int = Field(4200, ge=1, le=65535)


class RebuildScheduleConfig(_Frozen):
    library: str | None = None  # the music folder the nightly rebuild reads (or --library)
    cron: str = "0 3 * * *"
    timezone: str | None = None  # IANA name; null: this machine's time zone
    runner: Literal["threads", "processes", "dask"] = "threads"
    workers: int | None = Field(None, ge=1)
    dask_address: str | None = None
    then_tokenize: bool = True  # refresh the tokens of new and changed tracks after a rebuild


class NotifyConfig(_Frozen):
    webhook_url: str | None = None  # POSTed a JSON message when a nightly run fails or is slow
    slow_after_s: float | None = Field(None, gt=0)  # a run that took longer is reported too

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("webhook_url must be an http:// or https:// URL")
        return url


class ServiceConfig(_Frozen):
    server: ServerConfig = ServerConfig()
    rebuild: RebuildScheduleConfig = RebuildScheduleConfig()
    notify: NotifyConfig = NotifyConfig()


class ConfigError(ValueError):
    """A config file that is missing, not YAML, or does not match its model."""


def load_analysis_config(path: Path | str | None = None) -> AnalysisConfig:
    """`path`, else configs/analysis.yaml, else the built-in defaults."""
    return _load_default(AnalysisConfig, path, "analysis.yaml")


def load_echelon_config(path: Path | str | None = None) -> EchelonConfig:
    """`path`, else configs/echelon.yaml, else the built-in defaults."""
    return _load_default(EchelonConfig, path, "echelon.yaml")


def load_vqvae_config(path: Path | str | None = None) -> VQVAEConfig:
    """`path`, else configs/vqvae.yaml (the full-size model), else the built-in defaults."""
    return _load_default(VQVAEConfig, path, "vqvae.yaml")


def load_diffusion_config(path: Path | str | None = None) -> DiffusionConfig:
    """`path`, else configs/diffusion.yaml (the full-size model), else the built-in defaults."""
    return _load_default(DiffusionConfig, path, "diffusion.yaml")


def load_render_config(path: Path | str | None = None) -> RenderConfig:
    """`path`, else configs/render.yaml, else the built-in defaults."""
    return _load_default(RenderConfig, path, "render.yaml")


def load_mapper_config(path: Path | str | None = None) -> MapperConfig:
    """`path`, else configs/mapper.yaml, else the built-in defaults."""
    return _load_default(MapperConfig, path, "mapper.yaml")


def load_service_config(path: Path | str | None = None) -> ServiceConfig:
    """`path`, else configs/service.yaml, else the built-in defaults."""
    return _load_default(ServiceConfig, path, "service.yaml")


def _load_default(model: type[_Frozen], path: Path | str | None, name: str):
    if path is None:
        default = CONFIG_DIR / name
        if not default.is_file():
            return model()
        path = default
    return load_model(model, path)


def load_model(model: type[_Frozen], path: Path | str):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path}: {problems}") from error
