"""Tokenization: chunked = whole-file away from edges, identical files twice, same length back."""

import numpy as np
import pytest
import torch

from storage.token_store import ROW_CODES, read_tokens, write_tokens
from tasks.analysis.audio import AudioError, load_audio
from tasks.models.builders import load_tokenizer
from tasks.models.tokenizer import Tokenizer, decode, encode, tokenize_file


@pytest.fixture(scope="module")
def tokenizer(trained_vqvae) -> Tokenizer:
    return load_tokenizer(trained_vqvae.checkpoint, chunk_s=1.5)  # many chunks per file


def test_chunked_codes_equal_whole_file_codes(tokenizer, short_library):
    samples = load_audio(short_library[0]).samples  # 16 s: eleven 1.5 s chunks
    chunked = encode(tokenizer, samples)
    whole = tokenizer.model.encode(torch.from_numpy(samples)[None])[0].numpy()
    assert len(chunked) == len(whole) == int(np.ceil(len(samples) / 64))
    assert chunked.dtype == np.int16
    edges = np.arange(0, len(whole), tokenizer.chunk_codes)
    away = np.ones(len(whole), bool)
    for e in edges:
        away[max(0, e - 8):e + 8] = False
    assert np.array_equal(chunked[away], whole[away])
    assert np.mean(chunked == whole) >= 0.999  # and at the edges too, up to float ties
    assert len(np.unique(whole)) > 20  # a trained codebook, not one code everywhere


def test_chunked_decoding_equals_whole_decoding(tokenizer, short_library):
    codes = encode(tokenizer, load_audio(short_library[1]).samples)
    chunked = decode(tokenizer, codes)
    whole = tokenizer.model.decode(torch.from_numpy(codes.astype(np.int64))[None])[0, 0].numpy()
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


def test_tokenizing_twice_writes_identical_parquet(tokenizer, short_library, tmp_path):
    a = write_tokens([tokenize_file(tokenizer, p) for p in short_library], tmp_path / "a.parquet")
    b = write_tokens([tokenize_file(tokenizer, p) for p in reversed(short_library)],
                     tmp_path / "b.parquet")
    assert a.read_bytes() == b.read_bytes()


def test_token_file_round_trip_and_length(tokenizer, short_library, tmp_path):
    sequence = tokenize_file(tokenizer, short_library[2])
    path = write_tokens([sequence], tmp_path / "t.parquet")
    (back,) = read_tokens(path)
    assert np.array_equal(back.codes, sequence.codes) and back.model_version == tokenizer.version
    assert back.n_samples == len(load_audio(short_library[2]).samples)
    wave = decode(tokenizer, back.codes, back.n_samples)
    assert wave.shape == (back.n_samples,) and wave.dtype == np.float32
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.schema.field("codes").type.value_type.bit_width == 16
    assert table.num_rows == -(-len(sequence.codes) // ROW_CODES)


def test_bad_audio_is_an_audio_error(tokenizer, tmp_path):
    path = tmp_path / "x.wav"
    path.write_text("not audio")
    with pytest.raises(AudioError):
        tokenize_file(tokenizer, path)


def test_not_a_token_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ValueError, match="not a token file"):
        read_tokens(tmp_path / "other.parquet")
