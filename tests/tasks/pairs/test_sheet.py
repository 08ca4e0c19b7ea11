"""The pairing sheet as spreadsheets and careless hands write it."""

import re

import pytest

from tasks.pairs.sheet import SheetError, read_sheet


def test_rows_resolve_against_the_sheet_and_bad_cells_stay_on_their_row(tmp_path):
    sheet = tmp_path / "takes" / "sheet.csv"
    sheet.parent.mkdir()
    sheet.write_text("\ufeffrecording, track ,offset_s,notes\n"  # a BOM, spaces, extra column
                     "a.csv,../music/x.wav,,first\n"
                     "\n"
                     '"b c.parquet",/abs/y.wav,-12.5,"a, b"\n'
                     "d.csv,x.wav,soon,\n"
                     "e.csv,x.wav,nan,\n"
                     ",x.wav,,\n"
                     "./a.csv,x.wav,3,again\n", encoding="utf-8")
    rows = read_sheet(sheet)
    assert [r.line for r in rows] == [1, 3, 4, 5, 6, 7]
    a, b, d, e, empty, again = rows
    assert a.recording == tmp_path / "takes" / "a.csv" and a.offset_s is None and not a.error
    assert a.track == tmp_path / "music" / "x.wav"
    assert b.pair_id == "b c.parquet" and b.offset_s == -12.5 and str(b.track) == "/abs/y.wav"
    assert "offset_s 'soon' is not a number" in d.error
    assert "not a finite number" in e.error
    assert "recording cell is empty" in empty.error
    assert again.error == "row 7: ./a.csv is already paired on row 1"
    assert again.pair_id != a.pair_id  # every manifest row keeps its own id


@pytest.mark.parametrize("content, reason", [
    (b"recording;track\na.csv;b.wav\n", "lacks the column(s) recording, track"),
    (b"recording,track\n", "has a header but no rows"),
    (b"", "lacks the column(s)"),
    (b"PAR1\x00\x01\x02recording,track", "binary data"),
    ("recording,track\nà.csv,b.wav\n".encode("latin-1"), "not a UTF-8 text file"),
])
def test_a_sheet_that_is_no_pairing_sheet_is_refused_with_its_reason(tmp_path, content, reason):
    sheet = tmp_path / "sheet.csv"
    sheet.write_bytes(content)
    with pytest.raises(SheetError, match=re.escape(reason)):
        read_sheet(sheet)
    with pytest.raises(SheetError, match="does not exist"):
        read_sheet(tmp_path / "nowhere.csv")
