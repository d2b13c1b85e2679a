"""boss_visits_list: the names of the visit files, one per line; a missing one is an error."""

import pytest

from sdssflow.mwm.steps import list_files
from sdssflow.steps import StepError


def test_list_files_writes_one_name_per_line(tmp_path):
    files = [tmp_path / f"bossVisits-4100-5550{i}.fits" for i in range(3)]
    for f in files:
        f.write_bytes(b"x")
    out = list_files.main(["--out", str(tmp_path / "list.txt"), *map(str, files)])
    assert out.read_text().splitlines() == [str(f) for f in files]


def test_list_files_names_the_missing_file(tmp_path):
    with pytest.raises(StepError, match="nope.fits: file to list does not exist"):
        list_files.main(["--out", str(tmp_path / "list.txt"), str(tmp_path / "nope.fits")])
    assert not (tmp_path / "list.txt").exists()
