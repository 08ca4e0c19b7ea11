"""A rebuild killed part-way and run again ends exactly where an uninterrupted one does."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from flows.dataset import rebuild_flow
from storage.db import PhraseDatabase
from storage.home import Home
from storage.vector_index import load_or_rebuild
from synthetic.tracks import SectionSpec, TrackSpec, render, write_track
from tasks.config import AnalysisConfig, PhrasesConfig
from tasks.analysis.embedding import EMBEDDING_VERSION


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("restart-library")
    for i in range(5):
        spec = TrackSpec(bpm=110.0 + 5 * i, seed=20 + i, lead_in_s=0.1,
                         sections=(SectionSpec("intro_kick", 4), SectionSpec("groove", 4),
                                   SectionSpec("break", 4)))
        write_track(render(spec), folder / f"t{i}.wav")
    (folder / "broken.wav").write_bytes(b"RIFF" + b"\0" * 40)
    return folder


def _final_state(home):
    layout = Home(home)
    database = PhraseDatabase.open(layout.db_url())
    ids, vectors = database.embeddings(EMBEDDING_VERSION)
    index, rebuilt = load_or_rebuild(layout.faiss, ids, vectors, EMBEDDING_VERSION)
    parquet = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(layout.artifacts.glob("*.parquet"))}
    return ids, vectors, np.sort(index.ids), rebuilt, parquet


def _tracks_committed(db_file) -> int:
    if not db_file.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM tracks WHERE status = 'ok'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_rebuild_resumes_to_the_same_state(prefect_harness, library, tmp_path):
    reference = tmp_path / "reference"
    rebuild_flow(library=library, home=reference)

    killed = tmp_path / "killed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "rebuild", "--library", str(library), "--home", str(killed),
         "--json"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _tracks_committed(Home(killed).db_file) < 1:
            assert process.poll() is None, "the rebuild finished before it could be killed"
            assert time.monotonic() < deadline, "no track was committed in time"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the process and Prefect's server with it
        process.wait()
    assert 1 <= _tracks_committed(Home(killed).db_file) < 5  # really killed part-way

    resumed = rebuild_flow(library=library, home=killed)
    assert resumed["analyzed"] + resumed["skipped"] + resumed["failed"] == 6
    ids, vectors, index_ids, _, parquet = _final_state(killed)
    ref_ids, ref_vectors, ref_index_ids, _, ref_parquet = _final_state(reference)
    assert len(set(ids.tolist())) == len(ids)  # no duplicate phrases
    assert np.array_equal(ids, ref_ids) and np.array_equal(vectors, ref_vectors)
    assert np.array_equal(index_ids, ids)  # no orphan vectors
    assert parquet == ref_parquet


def test_changing_an_analysis_parameter_reanalyses(prefect_harness, library, tmp_path):
    home = tmp_path / "home"
    first = rebuild_flow(library=library, home=home)
    assert first["analyzed"] == 5
    four_bar = AnalysisConfig(phrases=PhrasesConfig(bars=4))
    changed = rebuild_flow(library=library, home=home, config=four_bar)
    assert changed["analyzed"] == 5 and changed["skipped"] == 0
    assert changed["phrases"] > first["phrases"]  # 4-bar phrases: more of them
    again = rebuild_flow(library=library, home=home, config=four_bar)
    assert again["analyzed"] == 0 and again["skipped"] == 6
