import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def house_track():
    """A short track with every hard case: an intro of off-beat hats only, a groove, a
    drumless break and a drop, at a tempo that is not a round number of frames."""
    from synthetic.tracks import SectionSpec, TrackSpec, render

    spec = TrackSpec(
        bpm=123.7,
        sections=(SectionSpec("intro_offhats", 8), SectionSpec("groove", 8),
                  SectionSpec("break", 8), SectionSpec("drop", 8)),
        seed=11,
        lead_in_s=0.23,
    )
    return render(spec)


@pytest.fixture(scope="session")
def house_wav(house_track, tmp_path_factory) -> Path:
    from synthetic.tracks import write_track

    return write_track(house_track, tmp_path_factory.mktemp("house") / "house.wav")


@pytest.fixture(scope="session")
def house_analysis(house_wav):
    from tasks.analysis.track import analyze_track

    return analyze_track(house_wav, keep_waveform=True)


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server for the whole session (it takes ~10 s to start)."""
    from prefect.logging.configuration import setup_logging
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        # Configure Prefect's console logging now, on the session's stderr; otherwise the first
        # flow run inside a CliRunner.invoke binds it to that invocation's stderr, which is
        # closed when the invocation returns.
        setup_logging()
        yield


def clicks(times: np.ndarray, path, seconds: float = 25.0, rate: int = 44100):
    """Identical noise clicks at `times`: no accent, no kick, no harmony to tell one beat from
    another. Written to `path` (returned)."""
    import soundfile as sf

    burst = np.random.default_rng(0).standard_normal(int(0.02 * rate)) \
        * np.exp(-np.arange(int(0.02 * rate)) / 200)
    audio = np.zeros(int(seconds * rate))
    for t in times:
        i = int(t * rate)
        audio[i:i + len(burst)] += 0.5 * burst[:len(audio) - i]
    sf.write(path, audio.astype(np.float32), rate)
    return path


def tone(freq: float, seconds: float, sr: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


@pytest.fixture(scope="session")
def short_library(tmp_path_factory) -> list[Path]:
    """Three 16 s generated tracks (different tempi and arrangements) for model training."""
    from synthetic.tracks import SectionSpec, TrackSpec, render, write_track

    folder = tmp_path_factory.mktemp("short_library")
    arrangements = (("groove", "break"), ("build", "drop"), ("intro_kick", "groove"))
    paths = []
    for i, (a, b) in enumerate(arrangements):
        spec = TrackSpec(bpm=118.0 + 6 * i, sections=(SectionSpec(a, 4), SectionSpec(b, 4)),
                         seed=40 + i)
        paths.append(write_track(render(spec), folder / f"short_{i}.wav"))
    return paths


def tiny_vqvae_config(**training):
    """configs/tiny/vqvae.yaml with training settings replaced."""
    from tasks.config import CONFIG_DIR, load_vqvae_config

    cfg = load_vqvae_config(CONFIG_DIR / "tiny" / "vqvae.yaml")
    return cfg.model_copy(update={"training": cfg.training.model_copy(update=training)})


@pytest.fixture(scope="session")
def trained_vqvae(short_library, tmp_path_factory):
    """The tiny VQ-VAE trained for 100 steps (≈25 s) on two tracks, validated on the third."""
    from tasks.training.vqvae import train_vqvae

    folder = tmp_path_factory.mktemp("vqvae")
    cfg = tiny_vqvae_config(steps=100, val_every=50, checkpoint_every=50)
    result = train_vqvae(cfg, [str(p) for p in short_library[:2]], [str(short_library[2])],
                         folder)
    return result


def tiny_diffusion_config(backbone: str = "unet", **training):
    """configs/tiny/diffusion.yaml with the backbone and training settings replaced."""
    from tasks.config import CONFIG_DIR, load_diffusion_config

    cfg = load_diffusion_config(CONFIG_DIR / "tiny" / "diffusion.yaml")
    return cfg.model_copy(update={
        "model": cfg.model.model_copy(update={"backbone": backbone}),
        "training": cfg.training.model_copy(update=training)})


def latent_pair(i: int, length: int = 64, channels: int = 16):
    """A motion-latent pair made directly: smooth latents, random motion covering them."""
    from tasks.config import VQVAEModelConfig
    from tasks.motion.recording import Performance
    from tasks.training.latent_pairs import LatentPair

    rate = VQVAEModelConfig().latent_rate
    rng = np.random.default_rng(i)
    n = int(np.ceil(length / rate * 30)) + 3
    performance = Performance(f"p{i}", 30.0, 0.0, rng.normal(size=(n, 2, 25)).astype(np.float32),
                              np.ones((n, 2), bool), np.zeros(n, np.int32))
    latents = np.sin(np.arange(length)[None] * (0.1 + 0.05 * np.arange(channels))[:, None] + i)
    return LatentPair(f"p{i}", latents.astype(np.float32), performance, 0.0, rate)


def database_content(url: str) -> dict:
    """Everything a rebuild decides, without what differs run to run (times, run ids, row
    ids): equal for two databases that hold the same analysis."""
    from sqlalchemy import select

    from storage.db import Phrase, PhraseDatabase, Track

    database = PhraseDatabase.open(url)
    with database.session() as s:
        tracks = {t.path: (t.content_hash, t.status, t.error, t.duration_s, t.tempo_bpm,
                           t.beats, t.positions, t.config_hash)
                  for t in s.scalars(select(Track))}
        phrases = {p.id: (p.track.path, p.index, p.start_s, p.end_s, p.n_bars, p.section)
                   for p in s.scalars(select(Phrase))}
        vectors = {p.id: np.concatenate([np.frombuffer(p.features, np.float32),
                                         np.frombuffer(p.embedding, np.float32)])
                   for p in s.scalars(select(Phrase))}
    database.engine.dispose()
    return {"tracks": tracks, "phrases": phrases, "vectors": vectors}


def assert_same_content(a: dict, b: dict) -> None:
    """Same tracks, beats, phrase ids and boundaries exactly; feature and embedding vectors
    equal to float32 rounding (BLAS sums in another order with another thread count)."""
    assert a["tracks"] == b["tracks"]
    assert a["phrases"] == b["phrases"]
    for key, vector in a["vectors"].items():
        np.testing.assert_allclose(vector, b["vectors"][key], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory) -> Path:
    """Two 8-bar tracks and one file that is not audio: a rebuild in seconds."""
    from synthetic.tracks import SectionSpec, TrackSpec, render, write_track

    folder = tmp_path_factory.mktemp("tiny_library")
    for i, (a, b) in enumerate((("groove", "break"), ("build", "drop"))):
        spec = TrackSpec(bpm=120.0 + 8 * i, sections=(SectionSpec(a, 4), SectionSpec(b, 4)),
                         seed=70 + i)
        write_track(render(spec), folder / f"tiny_{i}.wav")
    (folder / "notes.wav").write_text("not audio")
    return folder


@pytest.fixture(scope="session")
def tiny_render_checkpoints(trained_vqvae, tmp_path_factory):
    """(diffusion checkpoint, VQ-VAE checkpoint): the tiny diffusion model trained a few steps
    against the tiny VQ-VAE's version, as `echelon train-diffusion` would save it."""
    from tasks.config import EchelonConfig
    from tasks.models.builders import load_tokenizer
    from tasks.training.diffusion import train_diffusion

    tokenizer = load_tokenizer(trained_vqvae.checkpoint)
    cfg = tiny_diffusion_config(steps=4, crop_latents=64, val_every=100, val_renders=0)
    result = train_diffusion(cfg, EchelonConfig(), [latent_pair(0)], [latent_pair(1)],
                             tmp_path_factory.mktemp("render_diffusion"),
                             extra_state={"latent_scale": 1.0,
                                          "vqvae_version": tokenizer.version})
    return result.checkpoint, trained_vqvae.checkpoint


@pytest.fixture(scope="session")
def performance_folder(tmp_path_factory) -> Path:
    """Two generated performances (≈2 s and ≈4 s at 120 BPM) and the bad recordings a careless
    user or a broken exporter brings (see BAD_RECORDINGS)."""
    from synthetic.performances import dance, write_performance
    from synthetic.tracks import SectionSpec, TrackSpec, render

    folder = tmp_path_factory.mktemp("performances")
    for i, bars in enumerate((1, 2)):
        track = render(TrackSpec(bpm=120.0, sections=(SectionSpec("groove", bars),), seed=90 + i))
        write_performance(dance(track, np.random.default_rng(i), 100.0),
                          folder / f"show_{i}.parquet")
    (folder / "broken.csv").write_text("t,device,z0\n0.0,0,1.0\n0.1,0,oops\n")
    write_bad_recordings(pq.read_table(folder / "show_0.parquet"), folder)
    return folder


BAD_RECORDINGS = ("broken.csv", "clocks_apart.parquet", "duplicate_header.csv",
                  "huge_values.parquet", "odd_sections.parquet")


def write_bad_recordings(good: pa.Table, folder: Path) -> None:
    """Each made from a good recording with one thing wrong."""
    import pyarrow.compute as pc

    names = good.column_names
    pacsv.write_csv(good.rename_columns([n if n != "z24" else "z3" for n in names]),
                    folder / "duplicate_header.csv")
    huge = good["z5"].to_numpy().copy()
    huge[3] = 1e30
    pq.write_table(good.set_column(names.index("z5"), "z5", pa.array(huge)),
                   folder / "huge_values.parquet")
    apart = pc.add(good["t"], pc.multiply(good["device"].cast(pa.float64()), 3e5))
    pq.write_table(good.set_column(names.index("t"), "t", apart), folder / "clocks_apart.parquet")
    lists = pa.array([[1, 2]] * good.num_rows)
    table = good.drop_columns(["section"]) if "section" in names else good
    pq.write_table(table.append_column("section", lists), folder / "odd_sections.parquet")


@pytest.fixture(scope="session")
def mission_demo(prefect_harness, tmp_path_factory):
    """(home, summary) of `echelon demo` through the CLI: a generated library analysed, a tiny
    VQ-VAE, tokens, a tiny diffusion model and renders. Made once: the mission tests read it,
    the diffusion flow tests train on a copy."""
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    home = tmp_path_factory.mktemp("mission")
    result = CliRunner().invoke(app, [str(a) for a in (
        "demo", "--home", home, "--tracks", 2, "--vqvae-steps", 5, "--diffusion-steps", 5,
        "--seconds", 35, "--json")])
    assert result.exit_code == 0, result.stderr[-3000:]
    return home, json.loads(result.stdout.strip().splitlines()[-1])
