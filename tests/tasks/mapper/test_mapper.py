"""The motion → phrase mapper on a generated library danced to by several dancers: it learns,
it finds the paired phrase on held-out tracks and recordings more often than the hand-made
rule, it resumes on the same curve, and renders choose with it the way it was evaluated."""

import numpy as np
import pytest
import torch

from storage.vector_index import build_index
from synthetic.danced_library import danced_library
from tasks.config import MapperConfig, MotionConfig, RetrievalConfig
from tasks.evaluation.mapper import chance, evaluate_mapper, truth_ranks
from tasks.mapper.ranking import PhraseLibrary, PhraseMapper, embed_windows, reranked, tempo_cost
from tasks.mapper.windows import phrase_windows, split_windows, typical_log_speed
from tasks.models.builders import build_encoder, load_mapper
from tasks.training.mapper import MapperDataError, train_mapper

SEED = 4  # the library's; the mapper's design was tuned on seed 11 (bench: held-out 2026)


@pytest.fixture(scope="module")
def danced(tmp_path_factory):
    """8 tracks at 116–132 BPM, each danced by 3 dancers: 144 phrase windows (≈10 s)."""
    tracks = danced_library(tmp_path_factory.mktemp("danced"), 8, 3, SEED,
                            bpm_range=(116.0, 132.0))
    encoder = build_encoder()
    windows = [w for t in tracks for name, performance in t.recordings
               for w in phrase_windows(name, t.track_id, t.offset_s, performance, t.phrases,
                                       encoder, MotionConfig(), MapperConfig())]
    library = PhraseLibrary.of([p for t in tracks for p in t.phrases])
    return tracks, encoder, windows, library


@pytest.fixture(scope="module")
def trained(danced, tmp_path_factory):
    _, _, windows, library = danced
    split = split_windows(windows, MapperConfig().val_share)
    folder = tmp_path_factory.mktemp("mapper")
    return split, train_mapper(MapperConfig(), split.train, split.held_out(), library, folder)


def test_held_out_tracks_and_recordings_are_never_trained_on(danced, trained):
    _, _, windows, _ = danced
    split, _ = trained
    train_tracks = {w.track_id for w in split.train}
    train_recordings = {w.pair_id for w in split.train}
    assert len(windows) == 144 and split.unseen_tracks and split.unseen_recordings
    assert not train_tracks & {w.track_id for w in split.unseen_tracks}
    assert not train_recordings & {w.pair_id for w in split.unseen_recordings}
    assert {w.track_id for w in split.unseen_recordings} <= train_tracks


def test_the_loss_falls_and_recall_at_5_beats_the_rule_on_held_out_pairs(trained):
    _, result = trained
    losses = [h["loss"] for h in result.history]
    assert np.mean(losses[:10]) > 3 * np.mean(losses[-10:]), (losses[:10], losses[-10:])
    rows = result.validations[-1].scores

    def pooled(method: str, k: int = 5) -> float:
        chosen = [r for r in rows if r["method"] == method]
        return sum(r[f"recall@{k}"] * r["queries"] for r in chosen) / sum(
            r["queries"] for r in chosen)

    assert pooled("mapper + tempo") > pooled("rule") > pooled("chance")
    assert pooled("mapper + tempo", k=1) > pooled("rule", k=1)


def test_resumed_training_repeats_the_curve_and_the_checkpoint_reloads(danced, trained,
                                                                        tmp_path):
    _, _, _, library = danced
    split, _ = trained
    config = MapperConfig(steps=12, val_every=6, checkpoint_every=6)
    whole = train_mapper(config, split.train, split.held_out(), library, tmp_path / "whole")
    train_mapper(config, split.train, split.held_out(), library, tmp_path / "split", max_steps=5)
    resumed = train_mapper(config, split.train, split.held_out(), library, tmp_path / "split")
    np.testing.assert_allclose([h["loss"] for h in resumed.history],
                               [h["loss"] for h in whole.history], rtol=1e-5)
    tower, loaded_config, state = load_mapper(whole.checkpoint)
    assert loaded_config == config and state["step"] == 12
    steps = np.stack([w.steps for w in split.unseen_tracks[:3]])
    before = whole.validations[-1].scores
    assert before == evaluate_and_round(tower, split, library, config)
    assert embed_windows(tower, steps).shape == (3, library.vectors.shape[1])


def evaluate_and_round(tower, split, library, config):
    return [s.row() for s in evaluate_mapper(tower, split.held_out(), library, config)]


def test_too_few_windows_is_a_clear_error(danced, tmp_path):
    _, _, windows, library = danced
    with pytest.raises(MapperDataError, match="at least 2 phrase windows"):
        train_mapper(MapperConfig(), windows[:1], {}, library, tmp_path)


def test_a_render_chooses_the_phrase_the_evaluation_ranks_first(danced, trained):
    """The same windows, vectors and re-rank in both: what was measured is what renders do."""
    tracks, encoder, _, library = danced
    split, result = trained
    tower, config, _ = load_mapper(result.checkpoint)
    index = build_index(library.ids, library.vectors)
    mapper = PhraseMapper(tower, config, index, encoder, MotionConfig(),
                          phrase_s=0.0, checkpoint_sha256="x")
    held = split.unseen_tracks[0]
    track = next(t for t in tracks if t.track_id == held.track_id)
    name, performance = next(r for r in track.recordings if r[0] == held.pair_id)
    phrase = next(p for p in track.phrases if p.id == held.phrase_id)
    rate = performance.frame_rate
    first = int(np.ceil((phrase.start_s - track.offset_s - performance.start_s) * rate))
    last = int(np.floor((phrase.end_s - track.offset_s - performance.start_s) * rate)) + 1
    mapper = PhraseMapper(tower, config, index, encoder, MotionConfig(),
                          (last - first) / rate, "x")
    chosen = mapper.choose(performance, (first + last) // 2, held.tempo_bpm,
                           typical_log_speed(performance), library.catalog,
                           RetrievalConfig().tempo_tolerance)
    similarity = embed_windows(tower, held.steps[None]) @ library.vectors.T
    cost = tempo_cost(np.array([held.tempo_bpm]), library.tempo, RetrievalConfig().tempo_tolerance)
    best = library.ids[int(np.argmax(reranked(similarity, cost, config.rerank_k,
                                              config.tempo_weight)[0]))]
    assert chosen.phrase_id == best


def test_ranks_count_ties_half_so_a_constant_score_is_chance():
    scores = np.zeros((4, 10))
    ranks = truth_ranks(scores, np.array([0, 3, 5, 9]))
    assert np.all(ranks == 5.5) and chance("x", 4, 10).median_rank == 5.5
    assert truth_ranks(np.eye(3), np.arange(3)).tolist() == [1.0, 1.0, 1.0]
    assert torch.__version__  # the tower's library is importable alongside


def test_dancing_at_half_or_double_tempo_costs_one_tolerance():
    cost = tempo_cost(np.array([120.0, 60.0, np.nan]), np.array([120.0, 124.8, 240.0]), 0.04)
    np.testing.assert_allclose(cost[0], [0.0, 1.0, 1.0], atol=1e-9)
    np.testing.assert_allclose(cost[1], [1.0, 2.0, 18.67], atol=0.01)  # two octaves: no fold
    assert not cost[2].any()  # no tempo found: tempo decides nothing
