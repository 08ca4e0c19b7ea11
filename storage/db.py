"""The phrase database: tracks, phrases, runs and failures, through SQLAlchemy 2.0.

SQLite (WAL) by default; any SQLAlchemy URL works (PostgreSQL for a team). The database is the
source of truth: the FAISS index and the Parquet artifacts are derived from it and rebuilt
from it whenever they disagree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import (BigInteger, Engine, Float, ForeignKey, Integer, LargeBinary, String,
                        create_engine, delete, event, exc, func, inspect, or_, select, text)
from sqlalchemy.orm import (DeclarativeBase, Mapped, Session, mapped_column, relationship,
                            sessionmaker)

from storage.records import (AudioTrack, Fingerprint, StaleEmbeddings, StoredPhrase,
                             TrackRecord)
from storage.stamps import utc_now


class Base(DeclarativeBase):
    pass


class Track(Base):
    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True, index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    config_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # "ok" | "failed"
    error: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decoders: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channels: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tempo_bpm: Mapped[float | None] = mapped_column(Float, nullable=True)
    beat_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # 0..1
    downbeat_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # 0..1
    beats_per_bar: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the meter
    beats: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float64 seconds
    positions: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # int8 bar positions
    analysed_at: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(36))

    phrases: Mapped[list["Phrase"]] = relationship(back_populates="track", cascade="all, delete-orphan",
                                                   order_by="Phrase.index")


class Phrase(Base):
    __tablename__ = "phrases"

    # Stable ids (a hash of path, content and index, see tasks.analysis.embedding.phrase_id): the same
    # phrase gets the same id whichever run or worker analysed it. They are the FAISS ids.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    n_bars: Mapped[int] = mapped_column(Integer)
    section: Mapped[int] = mapped_column(Integer)
    features: Mapped[bytes] = mapped_column(LargeBinary)  # float32 summary vector
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    # the recipe that made it; NULL in a database from before versions were kept: version 1
    embedding_version: Mapped[int | None] = mapped_column(Integer, nullable=True)

    track: Mapped[Track] = relationship(back_populates="phrases")


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    library: Mapped[str] = mapped_column(String(4096))
    started_at: Mapped[str] = mapped_column(String(32))
    finished_at: Mapped[str | None] = mapped_column(String(32), nullable=True)
    analyzed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    phrases: Mapped[int] = mapped_column(Integer, default=0)


class Failure(Base):
    __tablename__ = "failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    path: Mapped[str] = mapped_column(String(4096))
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(1024))


# A phrase's embedding version, NULL (a database from before versions were stored) read as 1.
UNVERSIONED_EMBEDDING = 1
_EMBEDDING_VERSION = func.coalesce(Phrase.embedding_version, UNVERSIONED_EMBEDDING)


class DatabaseDamaged(RuntimeError):
    """A database file that SQLite cannot read or whose pages are inconsistent."""

    def __init__(self, url: str, detail: str):
        super().__init__(
            f"{url.removeprefix('sqlite:///')}: the phrase database is damaged ({detail}); it is "
            "the source of truth, so restore it from a backup, or move it aside and run "
            "`echelon rebuild` to analyse the library again")


def open_database(url: str, read_only: bool = False) -> Engine:
    """Engine with the schema created; SQLite gets WAL and enforced foreign keys.

    `read_only` (the commands that only look): nothing is created or migrated, and SQLite
    opens the file read-only, so `stats` and `search` work in a home they cannot write."""
    if url.startswith("sqlite:///") and not read_only:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open_read_only(url) if read_only else _open(url)
    except exc.DatabaseError as error:  # "file is not a database", "malformed"
        if "not a database" in str(error) or "malformed" in str(error):
            raise DatabaseDamaged(url, str(error.orig)) from error
        raise


def check_integrity(engine: Engine) -> None:
    """SQLite's page check (seconds on a large library): run before a rebuild writes, so
    damage is reported before more is built on it."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as connection:
            problems = [row[0] for row in connection.execute(text("PRAGMA quick_check(5)"))]
    except exc.DatabaseError as error:  # damage the check itself cannot walk past
        raise DatabaseDamaged(str(engine.url), str(error.orig)) from error
    if problems != ["ok"]:
        raise DatabaseDamaged(str(engine.url), " ".join(" ".join(problems).split())[:300])


def _open_read_only(url: str) -> Engine:
    if not url.startswith("sqlite:///"):
        return create_engine(url)
    path = url.removeprefix("sqlite:///")
    # A WAL database needs its -shm file even to be read; where the folder cannot be written
    # that file cannot be made, and nobody can be writing there: read it as immutable.
    flags = "mode=ro" if os.access(os.path.dirname(path) or ".", os.W_OK) else "immutable=1"
    engine = create_engine(f"sqlite:///file:{path}?{flags}&uri=true")
    with engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM sqlite_master"))  # damage shows here
    return engine


def _open(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
    Base.metadata.create_all(engine)
    migrate(engine)
    return engine


class SchemaError(RuntimeError):
    """A database whose schema cannot be brought up to date automatically."""


def migrate(engine: Engine) -> list[str]:
    """Add the columns a newer release introduced to tables an older one created.

    Additive changes only (new nullable or defaulted columns), which is how this schema is
    meant to grow; anything else is a clear error rather than a silent mismatch.
    Returns the "table.column" names added.
    """
    inspector = inspect(engine)
    added = []
    with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise SchemaError(
                        f"table {table.name} lacks the required column {column.name}; "
                        "rebuild the database (delete phrases.db and run `echelon rebuild`)")
                kind = column.type.compile(dialect=engine.dialect)
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))
                added.append(f"{table.name}.{column.name}")
    return added


class PhraseDatabase:
    """Everything the flows ask of the database, one transaction per call."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, read_only: bool = False) -> "PhraseDatabase":
        return cls(open_database(url, read_only))

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def fingerprints(self) -> dict[str, Fingerprint]:
        """path → fingerprint of every stored track."""
        with self.session() as s:
            rows = s.execute(select(Track.path, Track.size, Track.mtime_ns, Track.content_hash,
                                    Track.config_hash, Track.status, Track.reason,
                                    Track.decoders)).all()
        return {r.path: Fingerprint(r.size, r.mtime_ns, r.content_hash, r.config_hash, r.status,
                                    r.reason, r.decoders) for r in rows}

    def audio_tracks(self) -> list[AudioTrack]:
        """Every track analysed without error, by path."""
        with self.session() as s:
            rows = s.execute(select(Track.path, Track.content_hash, Track.duration_s)
                             .where(Track.status == "ok").order_by(Track.path)).all()
        return [AudioTrack(r.path, r.content_hash, float(r.duration_s or 0.0)) for r in rows]

    def touch(self, updates: dict[str, int]) -> None:
        """New mtimes for files whose content did not change (nothing to re-analyse)."""
        if not updates:
            return
        with self.session() as s:
            for track in s.scalars(select(Track).where(Track.path.in_(list(updates)))):
                track.mtime_ns = updates[track.path]

    def save_record(self, record: TrackRecord, run_id: str) -> None:
        """Replace whatever was stored for `record.path` with this analysis, in one transaction."""
        self.save_records([record], run_id)

    def save_records(self, records: list[TrackRecord], run_id: str) -> None:
        """Several analyses in one transaction (a chunk of a rebuild): a commit costs a disk
        sync, which for 20k small files was most of the rebuild's time."""
        with self.session() as s:
            for record in records:
                s.execute(delete(Track).where(Track.path == record.path))
                s.flush()
                s.add(_track_row(record, run_id))
                if record.status != "ok":
                    s.add(Failure(run_id=run_id, path=record.path, reason=record.reason or "error",
                                  detail=(record.error or "")[:1024]))

    def remove_tracks(self, paths: list[str]) -> int:
        if not paths:
            return 0
        with self.session() as s:
            return s.execute(delete(Track).where(Track.path.in_(paths))).rowcount

    def start_run(self, run_id: str, library: str) -> None:
        with self.session() as s:
            s.add(Run(id=run_id, library=library, started_at=utc_now()))

    def finish_run(self, run_id: str, **counts: int) -> None:
        with self.session() as s:
            run = s.get(Run, run_id)
            for key, value in counts.items():
                setattr(run, key, value)
            run.finished_at = utc_now()

    def failures(self, run_id: str) -> list[dict]:
        with self.session() as s:
            rows = s.scalars(select(Failure).where(Failure.run_id == run_id).order_by(Failure.path))
            return [{"path": f.path, "reason": f.reason, "detail": f.detail} for f in rows]

    def doubtful_tracks(self, beat_below: float, downbeat_below: float,
                        limit: int = 500) -> list[dict]:
        """Analysed tracks whose beat or downbeat confidence is below the given levels, least
        sure first: the ones a person should check by ear."""
        low = or_(Track.beat_confidence < beat_below, Track.downbeat_confidence < downbeat_below)
        least = func.min(Track.beat_confidence, Track.downbeat_confidence) \
            if self.engine.dialect.name == "sqlite" else \
            func.least(Track.beat_confidence, Track.downbeat_confidence)
        with self.session() as s:
            rows = s.execute(select(Track.path, Track.tempo_bpm, Track.beat_confidence,
                                    Track.downbeat_confidence)
                             .where(Track.status == "ok", low).order_by(least, Track.path)
                             .limit(limit)).all()
        return [{"path": r.path, "tempo_bpm": round(r.tempo_bpm or 0.0, 2),
                 "beat_confidence": round(r.beat_confidence, 3),
                 "downbeat_confidence": round(r.downbeat_confidence, 3)} for r in rows]

    def embeddings(self, version: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n,) int64, vectors (n, D) float32) of every phrase embedded by `version`,
        ordered by id. Vectors of another version are never mixed in: they are not comparable."""
        with self.session() as s:
            rows = s.execute(select(Phrase.id, Phrase.embedding)
                             .where(_EMBEDDING_VERSION == version).order_by(Phrase.id)).all()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return ids, np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    def embedding_versions(self) -> dict[int, int]:
        """version → how many phrases carry vectors of it."""
        with self.session() as s:
            return {int(v): n for v, n in s.execute(select(_EMBEDDING_VERSION, func.count())
                                                     .group_by(_EMBEDDING_VERSION)).all()}

    def stale_embeddings(self, version: int) -> list[StaleEmbeddings]:
        """Analysed tracks with phrases embedded by another version than `version`, by path."""
        query = (select(Track.path, Phrase.id, Phrase.start_s, Phrase.end_s)
                 .join(Track).where(Track.status == "ok", _EMBEDDING_VERSION != version)
                 .order_by(Track.path, Phrase.index))
        spans: dict[str, list[tuple[int, float, float]]] = {}
        with self.session() as s:
            for r in s.execute(query):
                spans.setdefault(r.path, []).append((r.id, r.start_s, r.end_s))
        return [StaleEmbeddings(path, tuple(p)) for path, p in spans.items()]

    def save_embeddings(self, vectors: dict[int, np.ndarray], version: int) -> int:
        """New vectors for stored phrases (a re-embedding), in one transaction; phrases that
        are gone meanwhile are passed over. Returns how many were updated."""
        with self.session() as s:
            phrases = s.scalars(select(Phrase).where(Phrase.id.in_(list(vectors)))).all()
            for phrase in phrases:
                phrase.embedding = np.asarray(vectors[phrase.id], np.float32).tobytes()
                phrase.embedding_version = version
        return len(phrases)

    def phrases(self, ids: list[int] | None = None) -> list[StoredPhrase]:
        """The phrases with these ids (default: every phrase of an analysed track), by id."""
        query = (select(Phrase.id, Track.path, Track.content_hash, Phrase.start_s, Phrase.end_s,
                        Track.tempo_bpm, Phrase.features, Phrase.embedding,
                        _EMBEDDING_VERSION.label("embedding_version")).join(Track))
        query = query.where(Track.status == "ok") if ids is None else \
            query.where(Phrase.id.in_(ids))
        with self.session() as s:
            rows = s.execute(query.order_by(Phrase.id)).all()
        return [StoredPhrase(r.id, r.path, r.content_hash, r.start_s, r.end_s, r.tempo_bpm,
                             np.frombuffer(r.features, np.float32),
                             np.frombuffer(r.embedding, np.float32), int(r.embedding_version))
                for r in rows]

    def content_stamp(self) -> str:
        """Changes whenever a track is analysed, touched, removed or re-embedded (what the
        Parquet artifacts are derived from); cheap: two aggregate queries."""
        with self.session() as s:
            tracks = s.execute(select(func.count(), func.max(Track.analysed_at),
                                      func.sum(Track.mtime_ns % 1_000_000_007),
                                      func.sum(Track.id))).one()
            phrases = s.execute(select(func.count(), func.sum(Phrase.id % 1_000_003),
                                       func.sum(_EMBEDDING_VERSION))).one()
        return repr((tuple(tracks), tuple(phrases)))

    def stats(self) -> dict:
        with self.session() as s:
            by_status = dict(s.execute(select(Track.status, func.count()).group_by(Track.status)).all())
            return {
                "tracks": sum(by_status.values()),
                "tracks_ok": by_status.get("ok", 0),
                "tracks_failed": by_status.get("failed", 0),
                "phrases": s.scalar(select(func.count()).select_from(Phrase)),
                "hours_of_audio": round((s.scalar(select(func.sum(Track.duration_s))) or 0.0) / 3600, 3),
                "runs": s.scalar(select(func.count()).select_from(Run)),
                "last_run": s.scalar(select(Run.id).order_by(Run.started_at.desc()).limit(1)),
            }


def _track_row(record: TrackRecord, run_id: str) -> Track:
    return Track(
        path=record.path, content_hash=record.content_hash, size=record.size,
        mtime_ns=record.mtime_ns, config_hash=record.config_hash, status=record.status,
        error=record.error, reason=record.reason, decoders=record.decoders,
        duration_s=record.duration_s, sample_rate=record.sample_rate,
        channels=record.channels, tempo_bpm=record.tempo_bpm,
        beat_confidence=record.beat_confidence, downbeat_confidence=record.downbeat_confidence,
        beats_per_bar=record.beats_per_bar,
        beats=np.asarray(record.beats, np.float64).tobytes(),
        positions=np.asarray(record.positions, np.int8).tobytes(),
        analysed_at=utc_now(), run_id=run_id,
        phrases=[Phrase(id=p.id, index=p.index, start_s=p.start_s, end_s=p.end_s,
                        n_bars=p.n_bars, section=p.section,
                        features=np.asarray(p.features, np.float32).tobytes(),
                        embedding=np.asarray(p.embedding, np.float32).tobytes(),
                        embedding_version=p.embedding_version)
                 for p in record.phrases],
    )
