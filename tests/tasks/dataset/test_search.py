"""A search query is embedded exactly as the stored phrases were: the same decode, the same
features, so a stored phrase's own span finds it with the very same vector."""

import numpy as np

from storage.stamps import content_hash
from tasks.config import AnalysisConfig
from tasks.dataset.rebuild import FileStat, analyze_file
from tasks.dataset.search import embed_audio


def test_a_query_over_a_stored_phrase_gives_its_stored_vector(house_wav):
    stat = house_wav.stat()
    record = analyze_file(FileStat(str(house_wav), stat.st_size, stat.st_mtime_ns),
                          content_hash(house_wav), AnalysisConfig())
    assert record.status == "ok" and len(record.phrases) >= 2
    for phrase in record.phrases[:2]:
        query = embed_audio(house_wav, phrase.start_s, phrase.end_s)
        np.testing.assert_allclose(query.vector, phrase.embedding, atol=1e-6)
