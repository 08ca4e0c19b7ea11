"""`echelon demo`: the whole mission on generated data and embedded defaults.

`demo_data_flow` generates house-like tracks with known beats and performances that dance to
them, analyses and scores the tracks, validates the performances and writes the motion-audio
pairs. `demo_flow` then runs what the team runs: dataset rebuild → VQ-VAE training (tiny) →
tokenization → diffusion training (tiny) → render of the generated performances, each its own
flow run in the Prefect UI. The pairs are made as a team makes them: a pairing sheet with no
offsets, through `echelon pairs` (clock sync finds where each recording started)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.dataset import rebuild_flow
from flows.diffusion import train_diffusion_flow
from flows.mapper import train_mapper_flow
from flows.pairs import pairs_flow
from flows.render import render_flow
from flows.vqvae import tokenize_flow, train_vqvae_flow
from storage.home import Home
from storage.atomic import atomic_path
from synthetic.performances import PhoneFaults, dance, write_performance
from synthetic.tracks import random_spec, render, write_track
from tasks.analysis.accuracy import score_analysis
from tasks.analysis.track import analyze_track
from tasks.config import (CONFIG_DIR, AnalysisConfig, MotionConfig, RenderConfig,
                          load_diffusion_config, load_vqvae_config)
from tasks.motion.recording import validate_performance

CLOCK_START_S = 100.0  # the phones' clock reads 100 s when the track starts

# The faults of real phone recordings, one set per performance in turn, and when the phones
# started: before the music (negative), with it, or after it.
FAULTS = (
    (PhoneFaults(), ".parquet", -3.0),
    (PhoneFaults(device1_stops_at=0.6, nan_frames=3), ".csv", 4.0),
    (PhoneFaults(device1_missing=True, stops_early_s=5.0), ".parquet", 0.0),
)


def _generate(path: Path, performance_dir: Path, seed: int, index: int = 0,
              max_seconds: float = 70.0) -> dict:
    """Write one generated track and a performance dancing to it; return paths and truth."""
    spec = random_spec(np.random.default_rng(seed),
                       duration_range_s=(max_seconds * 4 / 7, max_seconds))
    track = render(spec)
    write_track(track, path)
    faults, suffix, record_from_s = FAULTS[index % len(FAULTS)]
    motion = dance(track, np.random.default_rng(seed + 1), CLOCK_START_S, faults=faults,
                   record_from_s=record_from_s)
    performance = write_performance(motion, performance_dir / f"{path.stem}{suffix}")
    return {"path": str(path), "performance": str(performance), "bpm": spec.bpm,
            "beats": track.beats.tolist(), "downbeats": track.downbeats.tolist(),
            "boundaries": track.boundaries.tolist()}


def _check_performance(truth: dict, config: MotionConfig) -> dict:
    _, report = validate_performance(truth["performance"], config)
    return {"performance": truth["performance"], "ok": report.ok, "frames": report.frames,
            "duration_s": round(report.duration_s, 2), "devices": report.devices,
            "warnings": len(report.warnings), "errors": len(report.errors)}


def _sheet(truths: list[dict], home: Home) -> Path:
    """The pairing sheet a team would write: which recording goes with which track, no
    offsets (the phones' clocks are unknown)."""
    lines = ["recording,track,offset_s"]
    lines += [f"{Path(t['performance']).relative_to(home.root)},"
              f"{Path(t['path']).relative_to(home.root)}," for t in truths]
    with atomic_path(home.pairs_sheet) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return home.pairs_sheet


def _analyze_and_score(truth: dict, config: AnalysisConfig) -> dict:
    result = analyze_track(truth["path"], config).to_json()
    scores = score_analysis(result, np.array(truth["beats"]), np.array(truth["downbeats"]),
                            np.array(truth["boundaries"]))
    return {"path": result["path"], "true_bpm": round(truth["bpm"], 2),
            "tempo_bpm": result["tempo_bpm"], "beats": len(result["beats"]),
            "sections": len(result["sections"]), "phrases": len(result["phrases"]),
            **{k: round(v, 3) for k, v in scores.items()}}


generate_track = task(name="generate track", cache_policy=NO_CACHE)(_generate)
analyze_and_score = task(name="analyze track", cache_policy=NO_CACHE)(_analyze_and_score)
check_performance = task(name="validate performance", cache_policy=NO_CACHE)(_check_performance)
write_pair_sheet = task(name="write the pairing sheet", cache_policy=NO_CACHE)(_sheet)


@flow(name="echelon-demo-data", log_prints=True)
def demo_data_flow(home: Path, n_tracks: int = 3, seed: int = 7,
                   config: AnalysisConfig | None = None, max_seconds: float = 70.0) -> dict:
    config = config or AnalysisConfig()
    layout = Home(home)
    library = layout.demo_library
    truths = [generate_track.submit(library / f"demo_{i:02d}.wav", layout.performances,
                                    seed + i, i, max_seconds)
              for i in range(n_tracks)]
    rows = [analyze_and_score.submit(t, config) for t in truths]
    checks = [check_performance.submit(t, MotionConfig()) for t in truths]
    sheet = write_pair_sheet([t.result() for t in truths], layout)
    rows = [r.result() for r in rows]
    checks = [c.result() for c in checks]
    create_table_artifact(key="demo-analysis", table=rows,
                          description="Generated tracks analysed against their known beats, "
                                      "downbeats and section boundaries")
    create_table_artifact(key="demo-performances", table=checks,
                          description="Generated performances (with phone faults) validated")
    return {"home": str(layout.root), "library": str(library), "tracks": rows,
            "performances": checks, "sheet": str(sheet), "true_offset_s": -CLOCK_START_S}


# Embedded defaults of the mission: minutes on a laptop CPU, not a useful model.
DEMO_VQVAE_STEPS = 300
DEMO_DIFFUSION_STEPS = 300


@flow(name="echelon-demo", log_prints=True)
def demo_flow(home: Path, n_tracks: int = 3, seed: int = 7,
              vqvae_steps: int = DEMO_VQVAE_STEPS,
              diffusion_steps: int = DEMO_DIFFUSION_STEPS, max_seconds: float = 70.0) -> dict:
    """Generated library → rebuild → pairs → tiny VQ-VAE → tokens → tiny diffusion → motion →
    phrase mapper → renders."""
    layout = Home(home)
    data = demo_data_flow(home=layout.root, n_tracks=n_tracks, seed=seed,
                          max_seconds=max_seconds)
    rebuild = rebuild_flow(library=Path(data["library"]), home=layout.root)
    pairs = pairs_flow(sheet=Path(data["sheet"]), home=layout.root)
    vqvae = train_vqvae_flow(home=layout.root, config=_tiny(load_vqvae_config, "vqvae.yaml",
                                                            vqvae_steps))
    tokens = tokenize_flow(home=layout.root, checkpoint=Path(vqvae["checkpoint"]))
    diffusion = train_diffusion_flow(home=layout.root, config=_tiny(
        load_diffusion_config, "diffusion.yaml", diffusion_steps),
        vqvae_checkpoint=Path(vqvae["checkpoint"]))
    mapper = train_mapper_flow(home=layout.root)
    rendered = render_flow(performances=layout.performances, out=layout.renders,
                           home=layout.root, config=RenderConfig(),
                           diffusion_checkpoint=Path(diffusion["checkpoint"]),
                           vqvae_checkpoint=Path(vqvae["checkpoint"]))
    renders = [{"performance": r["performance"],
                "wav": str(Path(rendered["out"]) / r["wav"]) if r["wav"] else None,
                "duration_s": r["duration_s"]} for r in rendered["records"]]
    return {"phrase_db": str(layout.db_file), "tokens": str(layout.tokens),
            "vqvae_checkpoint": vqvae["checkpoint"],
            "diffusion_checkpoint": diffusion["checkpoint"], "manifest": rendered["manifest"],
            "renders": renders, "home": str(layout.root), "library": data["library"],
            "tracks": data["tracks"], "performances": data["performances"],
            "pairs": pairs["manifest"], "pair_rows": pairs["pairs"],
            "true_offset_s": data["true_offset_s"], "phrases": rebuild["phrases"],
            "vqvae_steps": vqvae["steps"], "diffusion_steps": diffusion["steps"],
            "mapper_checkpoint": mapper["checkpoint"], "mapper_evaluation": mapper["evaluation"],
            "tokenized": tokens, "evaluation": rendered.get("evaluation")}


def _tiny(load, name: str, steps: int):
    """configs/tiny/NAME with a training run of `steps` (validation and checkpoints at the end)."""
    config = load(CONFIG_DIR / "tiny" / name)
    every = max(1, steps // 3)
    return config.model_copy(update={"training": config.training.model_copy(update={
        "steps": steps, "val_every": every, "checkpoint_every": every})})
