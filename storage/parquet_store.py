"""Parquet artifacts under `artifacts/`, derived from the database and written whole.

Rows are sorted by track path, then phrase index / beat number, so the same database always
gives byte-identical files, whatever order the workers finished in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from storage.atomic import atomic_path, write_text
from storage.db import UNVERSIONED_EMBEDDING, Phrase, PhraseDatabase, Track

DATASETS = ("tracks", "beats", "phrases", "phrase_features", "embeddings")


def export_parquet(db: PhraseDatabase, artifacts: Path | str) -> dict[str, int] | None:
    """Write every dataset from the database; returns rows per dataset, or None when the
    files on disk already hold what the database holds (a night with nothing new: 100k
    tracks take 40 s to write again) and are readable."""
    artifacts = Path(artifacts)
    stamp = db.content_stamp()
    if _current(artifacts, stamp):
        return None
    tracks, beats, phrases, features, embeddings = ([] for _ in range(5))
    with db.session() as s:
        for track in s.scalars(select(Track).order_by(Track.path)):
            tracks.append({"track_path": track.path, "status": track.status, "error": track.error,
                           "content_hash": track.content_hash, "duration_s": track.duration_s,
                           "sample_rate": track.sample_rate, "channels": track.channels,
                           "tempo_bpm": track.tempo_bpm,
                           "beat_confidence": track.beat_confidence,
                           "downbeat_confidence": track.downbeat_confidence,
                           "beats_per_bar": track.beats_per_bar})
            if track.beats:
                times = np.frombuffer(track.beats, dtype=np.float64)
                positions = np.frombuffer(track.positions, dtype=np.int8)
                beats.extend({"track_path": track.path, "beat": i, "time_s": float(t),
                              "position": int(p)} for i, (t, p) in enumerate(zip(times, positions)))
        # one query for every phrase (not one per track: 100k round trips at catalogue size)
        for p, path in s.execute(select(Phrase, Track.path).join(Track)
                                 .order_by(Track.path, Phrase.index)):
            key = {"phrase_id": p.id, "track_path": path}
            phrases.append({**key, "index": p.index, "start_s": p.start_s, "end_s": p.end_s,
                            "n_bars": p.n_bars, "section": p.section})
            features.append({**key, "features": np.frombuffer(p.features, np.float32).tolist()})
            embeddings.append({**key, "embedding": np.frombuffer(p.embedding, np.float32).tolist(),
                               "embedding_version": p.embedding_version or UNVERSIONED_EMBEDDING})
    schemas = {
        "tracks": pa.schema([("track_path", pa.string()), ("status", pa.string()), ("error", pa.string()),
                             ("content_hash", pa.string()), ("duration_s", pa.float64()),
                             ("sample_rate", pa.int32()), ("channels", pa.int32()),
                             ("tempo_bpm", pa.float64()), ("beat_confidence", pa.float64()),
                             ("downbeat_confidence", pa.float64()),
                             ("beats_per_bar", pa.int32())]),
        "beats": pa.schema([("track_path", pa.string()), ("beat", pa.int32()), ("time_s", pa.float64()),
                            ("position", pa.int8())]),
        "phrases": pa.schema([("phrase_id", pa.int64()), ("track_path", pa.string()), ("index", pa.int32()),
                              ("start_s", pa.float64()), ("end_s", pa.float64()), ("n_bars", pa.int32()),
                              ("section", pa.int32())]),
        "phrase_features": pa.schema([("phrase_id", pa.int64()), ("track_path", pa.string()),
                                      ("features", pa.list_(pa.float32()))]),
        "embeddings": pa.schema([("phrase_id", pa.int64()), ("track_path", pa.string()),
                                 ("embedding", pa.list_(pa.float32())),
                                 ("embedding_version", pa.int32())]),
    }
    rows = dict(zip(DATASETS, (tracks, beats, phrases, features, embeddings)))
    for name in DATASETS:
        table = pa.Table.from_pylist(rows[name], schema=schemas[name])
        with atomic_path(artifacts / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    write_text(artifacts / STAMP_NAME, stamp)
    return {name: len(r) for name, r in rows.items()}


STAMP_NAME = ".exported-from.txt"  # the database content the files were written from


def _current(artifacts: Path, stamp: str) -> bool:
    try:
        if (artifacts / STAMP_NAME).read_text() != stamp:
            return False
        for name in DATASETS:
            pq.read_metadata(artifacts / f"{name}.parquet")  # a damaged file is written again
        return True
    except (OSError, pa.ArrowException):
        return False


READ_ONLY_STATEMENTS = ("SELECT", "EXPLAIN")


# Who writes each artifact again: they are all derived, so a damaged one is repaired by a rerun.
REPAIR = {**{name: "`echelon rebuild` writes it again from the database" for name in DATASETS},
          "tokens": "`echelon tokenize` writes it again",
          "evaluations": "`echelon evaluate` writes it again"}


def query(artifacts: Path | str, sql: str, allow_writes: bool = False,
          ) -> tuple[list[str], list[tuple]]:
    """DuckDB over the artifacts, each dataset a view of its own name. Read-only unless
    `allow_writes`: only SELECT/EXPLAIN statements, no file but the artifacts themselves (no
    COPY TO, ATTACH, read_csv('/etc/…'), extension installs), and the settings locked so a
    query cannot undo that. A refused statement raises ValueError or duckdb.PermissionException."""
    import duckdb

    artifacts = Path(artifacts)
    con = duckdb.connect()
    try:
        views = []
        # tokens.parquet is written by `echelon tokenize`, evaluations.parquet by `evaluate`
        for name in (*DATASETS, "tokens", "evaluations"):
            file = artifacts / f"{name}.parquet"
            if file.is_file():
                try:
                    con.read_parquet(str(file)).create_view(name)
                except duckdb.Error as error:  # a garbled footer, a truncated copy
                    raise ValueError(f"{file}: not a readable Parquet file "
                                     f"({str(error).splitlines()[0]}); {REPAIR[name]}") from error
                views.append(str(file))
        if not allow_writes:
            _read_only(con, sql, views)
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()
    finally:
        con.close()


def _read_only(con, sql: str, files: list[str]) -> None:
    kinds = [s.type.name for s in con.extract_statements(sql)]
    refused = [k for k in kinds if k not in READ_ONLY_STATEMENTS]
    if refused:
        raise ValueError(f"{refused[0]} statements are refused: `echelon sql` reads the "
                         f"artifacts (SELECT); --allow-writes opens it up")
    con.execute("SET allowed_paths = $files", {"files": files})
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
