"""`echelon sql` reads the artifacts and nothing else unless told otherwise."""

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage.parquet_store import query


@pytest.fixture()
def artifacts(tmp_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    pq.write_table(pa.table({"path": ["a.wav", "b.wav"], "tempo_bpm": [120.0, 128.0]}),
                   folder / "tracks.parquet")
    return folder


def test_select_reads_the_views(artifacts):
    columns, rows = query(artifacts, "SELECT count(*) AS n, max(tempo_bpm) FROM tracks")
    assert columns[0] == "n" and rows == [(2, 128.0)]


@pytest.mark.parametrize("sql", [
    "COPY tracks TO 'ARTIFACTS/tracks.parquet'",  # overwrite the artifacts
    "ATTACH 'ARTIFACTS/other.db' AS other",
    "INSTALL httpfs",
    "CREATE TABLE x AS SELECT 1",
])
def test_writes_and_attachments_are_refused(artifacts, sql):
    with pytest.raises(ValueError, match="refused"):
        query(artifacts, sql.replace("ARTIFACTS", str(artifacts)))
    assert query(artifacts, "SELECT count(*) FROM tracks")[1] == [(2,)]  # untouched


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_parquet('/nowhere/x.parquet')",
    "SELECT current_setting('enable_external_access'); SET enable_external_access = true",
])
def test_no_file_but_the_artifacts_can_be_read(artifacts, sql):
    with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException, ValueError)):
        query(artifacts, sql)


def test_allow_writes_opens_it_up(artifacts, tmp_path):
    query(artifacts, f"COPY tracks TO '{tmp_path / 'out.csv'}'", allow_writes=True)
    assert (tmp_path / "out.csv").read_text().startswith("path,tempo_bpm")


def test_a_garbled_footer_says_what_repairs_it(artifacts):
    file = artifacts / "tracks.parquet"
    data = bytearray(file.read_bytes())
    data[-12:] = b"\x00" * 12  # the footer's length and magic
    file.write_bytes(bytes(data))
    with pytest.raises(ValueError) as caught:
        query(artifacts, "SELECT 1")
    message = str(caught.value)
    assert "tracks.parquet" in message and "echelon rebuild" in message and "\n" not in message
