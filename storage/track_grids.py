"""What clock sync reads of the phrase database: each track's beats and section starts."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from storage.db import PhraseDatabase, Track
from storage.records import TrackGrid


def track_grids(database: PhraseDatabase, hashes: list[str]) -> dict[str, TrackGrid]:
    """content hash → the analysis of a track with that content (an analysed copy first)."""
    with database.session() as s:
        tracks = s.scalars(select(Track).where(Track.content_hash.in_(hashes))
                           .order_by((Track.status != "ok"), Track.path)).all()
        found: dict[str, TrackGrid] = {}
        for t in tracks:
            sections = [p for i, p in enumerate(t.phrases)
                        if i == 0 or p.section != t.phrases[i - 1].section]
            found.setdefault(t.content_hash, TrackGrid(
                t.path, t.content_hash, t.status, t.error, t.config_hash,
                float(t.duration_s or 0.0), int(t.beats_per_bar or 4),
                np.frombuffer(t.beats or b"", np.float64),
                np.array([p.start_s for p in sections], np.float64)))
    return found
