"""A new embedding version re-embeds the library in the next rebuild without analysing it
again, and a search never compares vectors of two versions."""

import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import update

from flows.cli import main
from flows.dataset import rebuild_flow
from storage.db import Phrase, PhraseDatabase
from storage.home import Home
from storage.vector_index import build_index
from tasks.analysis.embedding import EMBEDDING_VERSION
from tasks.dataset.search import EmbeddingVersionMismatch, Query, search


def _as_an_older_release_left_it(database: PhraseDatabase) -> None:
    """Vectors of version 1 (NULL: the release before versions were stored), other values."""
    with database.session() as s:
        s.execute(update(Phrase).values(embedding_version=None,
                                        embedding=np.ones(128, np.float32).tobytes()))


def test_a_new_embedding_version_reembeds_without_reanalysis(prefect_harness, house_wav,
                                                             tmp_path, monkeypatch, capsys):
    library = tmp_path / "library"
    library.mkdir()
    (library / "house.wav").symlink_to(house_wav)
    home = tmp_path / "home"
    first = rebuild_flow(library=library, home=home)
    database = PhraseDatabase.open(Home(home).db_url())
    ids, vectors = database.embeddings(EMBEDDING_VERSION)
    assert first["analyzed"] == 1 and len(ids) == first["phrases"] > 1

    _as_an_older_release_left_it(database)
    assert database.embedding_versions() == {1: len(ids)}
    monkeypatch.setattr(sys, "argv", ["echelon", "search", "--phrase", str(ids[0]),
                                      "--home", str(home), "--json"])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 1 and "version 1" in err and "echelon rebuild" in err, err

    def no_analysis(*args, **kwargs):
        raise AssertionError("a re-embedding must not analyse the track again")

    monkeypatch.setattr("tasks.dataset.rebuild.analyze_track", no_analysis)
    second = rebuild_flow(library=library, home=home)
    assert (second["analyzed"], second["reembedded"], second["stale_embeddings"]) == (0, len(ids), 0)
    again, revectors = database.embeddings(EMBEDDING_VERSION)
    assert np.array_equal(again, ids)
    np.testing.assert_allclose(revectors, vectors, atol=1e-6)  # the very vectors analysis made
    assert database.embedding_versions() == {EMBEDDING_VERSION: len(ids)}
    table = pq.read_table(Home(home).artifacts / "embeddings.parquet")
    assert set(table.column("embedding_version").to_pylist()) == {EMBEDDING_VERSION}

    third = rebuild_flow(library=library, home=home)
    assert (third["analyzed"], third["reembedded"]) == (0, 0)


def test_search_refuses_a_query_of_another_version(tmp_path):
    vectors = np.eye(4, 8, dtype=np.float32)
    index = build_index(np.arange(4), vectors, embedding_version=EMBEDDING_VERSION)
    database = PhraseDatabase.open(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(EmbeddingVersionMismatch, match="two versions cannot be compared"):
        search(database, index, Query(vectors[0], EMBEDDING_VERSION - 1))
    assert search(database, index, Query(vectors[0], EMBEDDING_VERSION)) == []  # no rows stored
