"""Split files as labs write them: Excel's UTF-8 with a BOM or its Windows-1252 "CSV", and the
broken ones, each refused in one line naming the file."""

from __future__ import annotations

import pytest

from matlab_gui.errors import DataError
from matlab_gui.ml import splits


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_excel_csvs_are_read_in_their_encoding(tmp_path, encoding):
    path = tmp_path / "splits.csv"
    path.write_bytes("stem,split\nGefüge 1,train\nµ-probe.tif,validation\n".encode(encoding))
    assert splits.read_split_csv(path) == {"Gefüge 1": "train", "µ-probe": "val"}


def test_a_stem_list_in_windows_1252_is_read(tmp_path):
    path = tmp_path / "train_a.txt"
    path.write_bytes("Gefüge 1.png\n".encode("cp1252"))
    assert splits.read_stem_lists([path]) == {"Gefüge 1": "train"}


@pytest.mark.parametrize("body, problem", [
    (bytes(range(256)) * 2, "is not a text file"),
    (b"stem,split\n\x00a,train\n", "is not a text file"),
    (b"hello,world\n1,2\n", "needs `stem` and `split` columns"),
])
def test_a_broken_split_file_is_one_error_naming_it(tmp_path, body, problem):
    path = tmp_path / "splits.csv"
    path.write_bytes(body)
    with pytest.raises(DataError, match=problem) as caught:
        splits.read_split_csv(path)
    assert caught.value.path == path


def test_a_split_file_that_names_no_image_of_the_data_says_so(tmp_path):
    path = tmp_path / "other-dataset.csv"
    path.write_bytes(b"stem,split\nzzz,train\n../../etc/passwd,val\n")
    with pytest.raises(DataError, match="none of the 2 entries .* names an image") as caught:
        splits.assign_from_files([path], ["a", "b", "c"])
    assert caught.value.path.name == "other-dataset.csv"
    assert splits.assign_from_files([path], ["zzz", "b"]) == {"zzz": "train"}
