import sqlite3
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import inspect

from storage.db import PhraseDatabase, SchemaError, open_database
from storage.records import PhraseRecord, TrackRecord


def _record(path: str, n_phrases: int, status: str = "ok") -> TrackRecord:
    phrases = tuple(PhraseRecord(id=1000 * len(path) + i, index=i, start_s=8.0 * i, end_s=8.0 * i + 8,
                                 n_bars=8, section=0, features=np.ones(70, np.float32),
                                 embedding=np.full(128, 1 / np.sqrt(128), np.float32),
                                 embedding_version=1)
                    for i in range(n_phrases))
    return TrackRecord(path=path, content_hash="h", size=1, mtime_ns=1, config_hash="c", status=status,
                       error=None if status == "ok" else "bad", reason=None if status == "ok" else "not_audio",
                       beats=np.arange(4) * 0.5, positions=np.arange(1, 5, dtype=np.int8), phrases=phrases)


def test_round_trip_replace_and_remove(tmp_path):
    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'p.db'}")
    db.start_run("r1", "lib")
    db.save_record(_record("/a.wav", 3), "r1")
    db.save_record(_record("/bb.wav", 2), "r1")
    ids, vectors = db.embeddings(1)
    assert len(ids) == 5 and vectors.shape == (5, 128)

    db.save_record(_record("/a.wav", 1), "r1")  # re-analysis replaces, never duplicates
    assert len(db.embeddings(1)[0]) == 3
    db.save_record(_record("/c.wav", 0, status="failed"), "r1")
    assert db.failures("r1") == [{"path": "/c.wav", "reason": "not_audio", "detail": "bad"}]

    assert db.remove_tracks(["/bb.wav"]) == 1
    assert len(db.embeddings(1)[0]) == 1  # its phrases went with it (foreign-key cascade)
    assert db.stats()["tracks"] == 2 and db.stats()["tracks_failed"] == 1


def test_an_older_schema_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:  # a tracks table from before tempo_bpm and error existed
        con.execute("CREATE TABLE tracks (id INTEGER PRIMARY KEY, path VARCHAR UNIQUE, content_hash VARCHAR "
                    "NOT NULL, size BIGINT NOT NULL, mtime_ns BIGINT NOT NULL, config_hash VARCHAR NOT NULL, "
                    "status VARCHAR NOT NULL, duration_s FLOAT, sample_rate INTEGER, channels INTEGER, "
                    "beats BLOB, positions BLOB, analysed_at VARCHAR NOT NULL, run_id VARCHAR NOT NULL)")
    engine = open_database(f"sqlite:///{path}")
    columns = {c["name"] for c in inspect(engine).get_columns("tracks")}
    assert {"tempo_bpm", "error"} <= columns
    PhraseDatabase(engine).save_record(_record("/a.wav", 1), "r")


def test_a_missing_required_column_is_a_clear_error(tmp_path):
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE runs (id VARCHAR PRIMARY KEY)")
    with pytest.raises(SchemaError, match="runs lacks the required column library"):
        open_database(f"sqlite:///{path}")


def _filled(tmp_path, tracks: int = 200) -> str:
    url = f"sqlite:///{tmp_path / 'phrases.db'}"
    db = PhraseDatabase.open(url)
    db.start_run("r1", "lib")
    for i in range(tracks):
        record = _record(f"/music/{i:04d}.wav", 4)
        phrases = tuple(replace(p, id=10 * i + p.index) for p in record.phrases)
        db.save_record(replace(record, phrases=phrases), "r1")
    db.engine.dispose()
    with sqlite3.connect(tmp_path / "phrases.db") as connection:  # everything into the main file
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return url


def test_read_only_open_reads_and_never_writes(tmp_path):
    url = _filled(tmp_path, tracks=3)
    before = (tmp_path / "phrases.db").read_bytes()
    db = PhraseDatabase.open(url, read_only=True)
    assert db.stats()["tracks"] == 3 and len(db.embeddings(1)[0]) == 12
    with pytest.raises(Exception, match="readonly"):
        db.start_run("r2", "lib")
    db.engine.dispose()
    assert (tmp_path / "phrases.db").read_bytes() == before


def test_damage_is_named_with_what_to_do(tmp_path):
    from storage.db import DatabaseDamaged, check_integrity

    url = _filled(tmp_path)
    path = tmp_path / "phrases.db"
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseDamaged, match="echelon rebuild"):
        check_integrity(PhraseDatabase.open(url).engine)

    path.write_bytes(b"not a database, just junk" * 100)  # a corrupt header
    for read_only in (False, True):
        with pytest.raises(DatabaseDamaged, match="damaged"):
            PhraseDatabase.open(url, read_only=read_only)


def test_tracks_to_check_by_ear_are_the_unsure_ones_least_sure_first(tmp_path):
    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'p.db'}")
    db.start_run("r", "lib")
    for path, beat, down in (("/sure.wav", 0.9, 0.8), ("/swing.wav", 0.3, 0.9),
                             ("/bar.wav", 0.7, 0.05)):
        db.save_record(replace(_record(path, 1), tempo_bpm=120.0, beat_confidence=beat,
                               downbeat_confidence=down), "r")
    db.save_record(_record("/broken.wav", 0, status="failed"), "r")
    doubtful = db.doubtful_tracks(0.45, 0.2)
    assert [t["path"] for t in doubtful] == ["/bar.wav", "/swing.wav"]
    assert doubtful[1] == {"path": "/swing.wav", "tempo_bpm": 120.0, "beat_confidence": 0.3,
                           "downbeat_confidence": 0.9}
    assert db.doubtful_tracks(0.0, 0.0) == []
