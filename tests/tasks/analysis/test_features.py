import numpy as np
import pytest

from tasks.analysis.features import frame_features, span_summary
from tests.conftest import tone

SR = 22050


@pytest.fixture(scope="module")
def a440():
    return frame_features(tone(440.0, 3.0, SR), SR)


def test_shapes_agree(a440):
    n = a440.n_frames
    assert a440.mel_db.shape == (64, n) and a440.mfcc.shape == (20, n)
    assert a440.chroma.shape == (12, n)
    assert a440.onset.shape == a440.rms_db.shape == a440.centroid_hz.shape == (n,)
    assert n == pytest.approx(3.0 * SR / 512, abs=2)


def test_a_tone_reads_as_itself(a440):
    middle = slice(10, -10)
    assert np.median(a440.centroid_hz[middle]) == pytest.approx(440.0, rel=0.1)
    assert np.argmax(a440.chroma[:, middle].mean(axis=1)) == 9  # A in C, C#, …, B
    quieter = frame_features(tone(440.0, 3.0, SR, amp=0.25), SR)
    assert np.median(a440.rms_db[middle] - quieter.rms_db[middle]) == pytest.approx(6.02, abs=0.1)


def test_span_summary_is_mean_and_std(a440):
    vector = span_summary(a440, 1.0, 2.0)
    assert vector.shape == (2 * (20 + 12 + 3),) and vector.dtype == np.float32
    rms_mean = vector[2 * 20 + 2 * 12]
    assert rms_mean == pytest.approx(np.median(a440.rms_db[20:-20]), abs=1.0)


def test_phrase_summaries_in_the_analysis(house_analysis):
    assert house_analysis.phrase_summaries.shape == (len(house_analysis.phrases), 70)
    assert np.all(np.isfinite(house_analysis.phrase_summaries))
