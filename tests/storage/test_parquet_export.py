"""The artifacts are written when the database changed or a file is damaged, not every night."""

import numpy as np
import pyarrow.parquet as pq

from storage.db import PhraseDatabase
from storage.parquet_store import export_parquet
from storage.records import PhraseRecord, TrackRecord


def _record(path: str, first_id: int) -> TrackRecord:
    phrases = tuple(PhraseRecord(first_id + i, i, 8.0 * i, 8.0 * i + 8, 8, 0,
                                 np.ones(70, np.float32), np.full(128, 0.0884, np.float32), 1)
                    for i in range(3))
    return TrackRecord(path, "h", 1, 1, "c", "ok", duration_s=24.0,
                       beats=np.arange(4) * 0.5, positions=np.arange(1, 5, dtype=np.int8),
                       phrases=phrases)


def test_unchanged_artifacts_are_not_written_again(tmp_path):
    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'phrases.db'}")
    db.start_run("r", "lib")
    db.save_records([_record("/b.wav", 10), _record("/a.wav", 20)], "r")
    artifacts = tmp_path / "artifacts"
    assert export_parquet(db, artifacts)["phrases"] == 6
    phrases = pq.read_table(artifacts / "phrases.parquet").to_pylist()
    assert [(p["track_path"], p["index"]) for p in phrases][:2] == [("/a.wav", 0), ("/a.wav", 1)]
    assert export_parquet(db, artifacts) is None  # nothing changed

    (artifacts / "beats.parquet").write_bytes(b"garbage")  # damaged: written again
    assert export_parquet(db, artifacts) is not None
    db.touch({"/a.wav": 5})  # a touched file changes the stamp too
    assert export_parquet(db, artifacts) is not None
    db.remove_tracks(["/b.wav"])
    assert export_parquet(db, artifacts)["tracks"] == 1
