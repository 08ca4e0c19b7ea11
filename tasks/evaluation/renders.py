"""A folder of renders judged whole: every render against its own recording, its floor
(another recording's motion) and its ceiling (the track the dancers heard, from the
motion-audio pairs), and the distance of its phrases from the library's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from storage.pair_manifest import MotionAudioPair
from storage.render_manifest import RenderRecord
from tasks.analysis.embedding import phrase_embedding
from tasks.analysis.features import frame_features
from tasks.config import AnalysisConfig, MotionConfig
from tasks.evaluation.distribution import (Distance, frechet_distance, kernel_audio_distance,
                                           with_interval)
from tasks.evaluation.facts import AudioFacts, audio_facts
from tasks.evaluation.score import (JUDGED, Pairing, ceiling, floors, mean_of, render_offset,
                                    score)
from tasks.motion.recording import PerformanceError, load_performance

NOISE_PHRASE_S = 8.0


@dataclass
class RenderEvaluation:
    rows: list[dict]  # one per judged render: its figures, floor_* and ceiling_* beside them
    summary: dict  # the mean of each figure, its floor and ceiling, and the distances
    distances: dict[str, dict[str, Distance]] = field(default_factory=dict)  # metric → set → d
    skipped: list[dict] = field(default_factory=list)  # {"performance", "reason"}


def pair_renders(records: list[RenderRecord], out_dir: Path, pairs: list[MotionAudioPair],
                 motion: MotionConfig, config: AnalysisConfig,
                 ) -> tuple[list[Pairing], list[RenderRecord], list[dict]]:
    """(pairings, their records, skipped) for the finished renders of a manifest; a render's
    reference is the track of the pair whose recording it was rendered from, if any."""
    by_motion = {str(Path(p.motion_path).resolve()): p for p in pairs}
    references: dict[str, AudioFacts] = {}
    pairings, used, skipped = [], [], []
    for record in records:
        wav = Path(out_dir) / record.wav if record.wav else None
        if record.status != "ok" or wav is None or not wav.is_file():
            skipped.append({"performance": record.performance,
                            "reason": record.error or "no rendered audio"})
            continue
        try:
            performance = load_performance(record.performance, motion)
        except PerformanceError as error:
            skipped.append({"performance": record.performance, "reason": str(error)})
            continue
        pair = by_motion.get(str(Path(record.performance).resolve()))
        reference = None
        if pair is not None and Path(pair.audio_path).is_file():
            if pair.audio_path not in references:
                references[pair.audio_path] = audio_facts(pair.audio_path, config)
            reference = references[pair.audio_path]
        pairings.append(Pairing(audio_facts(wav, config), performance,
                                render_offset(performance), reference,
                                pair.offset_s if pair is not None else 0.0))
        used.append(record)
    return pairings, used, skipped


def evaluate_renders(pairings: list[Pairing], records: list[RenderRecord],
                     library: np.ndarray | None = None,
                     config: AnalysisConfig | None = None) -> RenderEvaluation:
    """Figures, floors and ceilings of every pairing, and their means; with the library's
    phrase embeddings (n, D), the Fréchet distance and KAD of the renders' phrases (ceiling:
    the paired originals' phrases; floor: noise's)."""
    figures = [score(p) for p in pairings]
    lows, highs = floors(pairings), [ceiling(p) for p in pairings]
    rows = []
    for record, pairing, own, low, high in zip(records, pairings, figures, lows, highs):
        row = {"performance": record.performance, "wav": pairing.audio.path,
               "diffusion_sha256": record.diffusion_sha256, "vqvae_sha256": record.vqvae_sha256,
               "seam_ratio": record.seam_ratio, "error": pairing.audio.error, **own}
        for key in JUDGED:
            row[f"floor_{key}"] = low[key] if low else float("nan")
            row[f"ceiling_{key}"] = high[key] if high else float("nan")
        rows.append(row)
    summary = {"renders": len(rows), "seam_ratio": mean_of(rows, "seam_ratio"),
               "tempo_octave_errors": sum(bool(r["tempo_octave"]) for r in rows)}
    for key in (*JUDGED, "lufs", "clipping", "silence"):
        summary[key] = mean_of(rows, key)
    for key in JUDGED:
        summary[f"floor_{key}"] = mean_of(lows, key)
        summary[f"ceiling_{key}"] = mean_of(highs, key)
    distances = {}
    if library is not None and len(library) >= 2:
        distances = _distances(pairings, library, config or AnalysisConfig())
        for metric, sets in distances.items():
            for which, d in sets.items():
                summary[metric if which == "generated" else f"{which}_{metric}"] = d.value
                if which == "generated":
                    summary[f"{metric}_low"], summary[f"{metric}_high"] = d.low, d.high
    return RenderEvaluation(rows, summary, distances)


def _distances(pairings: list[Pairing], library: np.ndarray,
               config: AnalysisConfig) -> dict[str, dict[str, Distance]]:
    sets = {"generated": _stack([p.audio.embeddings for p in pairings]),
            "ceiling": _stack([p.reference.embeddings for p in pairings if p.reference]),
            "floor": noise_embeddings(max(4, len(pairings)), config)}
    return {name: {which: with_interval(measure, emb, library) for which, emb in sets.items()}
            for name, measure in (("frechet", frechet_distance), ("kad", kernel_audio_distance))}


def noise_embeddings(count: int, config: AnalysisConfig, seed: int = 0) -> np.ndarray:
    """(count, E) phrase embeddings of pink noise: audio that is not music at all."""
    rng = np.random.default_rng(seed)
    rate, n = config.feature_sample_rate, int(NOISE_PHRASE_S * count * config.feature_sample_rate)
    spectrum = np.fft.rfft(rng.normal(size=n))
    spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0))  # 1/f power
    noise = np.fft.irfft(spectrum, n).astype(np.float32)
    noise *= 0.1 / (np.abs(noise).max() + 1e-12)
    features = frame_features(noise, rate)
    return np.array([phrase_embedding(features, i * NOISE_PHRASE_S, (i + 1) * NOISE_PHRASE_S)
                     for i in range(count)], np.float32)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if p.size]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
