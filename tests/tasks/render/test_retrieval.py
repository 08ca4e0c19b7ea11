"""Retrieval-guided rendering: phrases chosen by tempo and energy, their latents as the start."""

import numpy as np
import pytest

from storage.token_store import TokenSequence
from tasks.config import RenderConfig, RetrievalConfig, SamplerConfig
from tasks.render.models import load_render_models
from tasks.render.retrieval import PhraseCandidate, PhraseCatalog
from tasks.render.run import render_performances

RATE = 44100 / 64


def catalog(codebook_size: int = 16, dim: int = 16) -> PhraseCatalog:
    sequence = TokenSequence("t0", "t0.wav", (np.arange(2000) % codebook_size).astype(np.int16),
                             "v", 2000 * 64, 44100)
    candidates = [PhraseCandidate(i + 1, "t0.wav", "t0", 0.1 * i, 0.1 * i + 1.0, tempo, energy, rank)
                  for i, (tempo, energy, rank) in enumerate(
                      [(90.0, -20.0, 0.0), (120.0, -12.0, 0.5), (121.0, -6.0, 1.0),
                       (150.0, -8.0, 0.75)])]
    codebook = np.random.default_rng(0).normal(size=(codebook_size, dim)).astype(np.float32)
    return PhraseCatalog(candidates, {"t0": sequence}, codebook, 2.0, RATE)


def test_the_phrase_nearest_in_tempo_then_energy_is_chosen():
    c, config = catalog(), RetrievalConfig()
    assert c.choose(119.0, 0.5, config).phrase_id == 2
    assert c.choose(119.0, 1.0, config).phrase_id == 3  # both in tempo: the louder one
    assert c.choose(148.0, 0.0, config).phrase_id == 4
    assert c.choose(float("nan"), 0.0, config).phrase_id == 1  # unknown tempo: energy alone


def test_phrase_latents_are_its_codes_repeated_to_the_chunk():
    c = catalog()
    phrase = c.candidates[1]  # 0.1 s … 1.1 s
    latents = c.latents(phrase, 2000)
    first = round(0.1 * RATE)
    span = round(1.1 * RATE) - first
    expected = c.codebook[np.arange(first, first + span) % 16].T * 2.0
    assert latents.shape == (16, 2000)
    np.testing.assert_allclose(latents[:, :span], expected, rtol=1e-6)
    np.testing.assert_allclose(latents[:, span:2 * span], expected, rtol=1e-6)


def test_an_empty_catalog_is_a_clear_error():
    with pytest.raises(ValueError, match="echelon tokenize"):
        PhraseCatalog([], {}, np.zeros((4, 4)), 1.0, RATE)


def test_a_retrieval_guided_render_records_its_phrases(tiny_render_checkpoints,
                                                       performance_folder, tmp_path):
    models = load_render_models(*tiny_render_checkpoints, device="cpu")
    c = catalog(codebook_size=len(models.tokenizer.model.quantizer.embed))
    c.codebook = models.tokenizer.model.quantizer.embed.numpy()
    config = RenderConfig(chunk_s=1.0, overlap_s=0.25, retrieval=RetrievalConfig(enabled=True),
                          sampler=SamplerConfig(kind="ddim", steps=8, guidance_scale=2.0))
    paths = sorted(performance_folder.glob("show_*.parquet"))
    outcome = render_performances(paths, tmp_path, models, config, catalog=c)
    for record in outcome.records:
        assert record.retrieval and record.strength == 0.7
        assert len(record.phrases) == record.chunks
        assert set(record.phrases) <= {2, 3}  # the 120 BPM dancers get the ≈120 BPM phrases
        assert (tmp_path / record.wav).is_file()
    render_performances(paths, tmp_path / "plain", models,
                        config.model_copy(update={"retrieval": RetrievalConfig()}))
    assert (tmp_path / "show_1.wav").read_bytes() != \
        (tmp_path / "plain" / "show_1.wav").read_bytes()
