"""The dataset flow gives the same database whichever task runner analysed the files."""

import pytest
from conftest import assert_same_content, database_content

from flows.dataset import rebuild_flow
from flows.runners import make_task_runner


@pytest.fixture(scope="module")
def reference(prefect_harness, tiny_library, tmp_path_factory):
    home = tmp_path_factory.mktemp("threads")
    summary = rebuild_flow(library=tiny_library, home=home)
    assert summary["analyzed"] == 2 and summary["failed"] == 1
    return database_content(f"sqlite:///{home / 'phrases.db'}")


@pytest.mark.parametrize("runner", ["dask", "processes"])
def test_same_database_on_every_runner(reference, tiny_library, tmp_path, runner):
    summary = rebuild_flow(library=tiny_library, home=tmp_path, runner=runner, workers=2)
    assert summary["analyzed"] == 2 and summary["failed"] == 1
    assert_same_content(database_content(f"sqlite:///{tmp_path / 'phrases.db'}"), reference)


def test_runner_choices():
    with pytest.raises(ValueError, match="needs --runner dask"):
        make_task_runner("threads", dask_address="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="unknown task runner"):
        make_task_runner("gpu")
    assert make_task_runner("threads", 3)._max_workers == 3


def test_two_rebuilds_of_one_home_never_overlap(tmp_path):
    from flows.dataset import rebuild_lock
    from storage.home import Home

    with rebuild_lock(Home(tmp_path)):
        with pytest.raises(RuntimeError, match="another rebuild is running"):
            with rebuild_lock(Home(tmp_path)):
                pass
    with rebuild_lock(Home(tmp_path)):  # released again
        pass
