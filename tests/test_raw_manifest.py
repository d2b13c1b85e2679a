"""The raw-file manifest of a plate: which names it lists (the change detection of its inputs)."""

from sdssflow.catalog.steps import raw_manifest


def _touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_spec_file_manifest_lists_both_paddings_and_no_other_plate(tmp_path):
    # plate-era spec names pad the plate to 4 digits (spec-0266-...), SDSS-V (DR19) names the
    # field to 6 (spec-015000-...): a field under 100000 was missed by the 4-digit pattern alone,
    # so a changed DR19 file did not re-run its field
    for name in ("spec-15000-59000-0001.fits", "spec-015000-59146-27021597775058284.fits",
                 "spec-115000-59300-0001.fits", "spec-1500-52000-0001.fits"):  # fmt: skip
        _touch(tmp_path / "sub" / name)
    text = raw_manifest.listing(tmp_path, ("spec-15000-*", "spec-015000-*"), recursive=True)
    names = [line.split("\t")[0] for line in text.splitlines()[1:]]
    assert names == ["sub/spec-015000-59146-27021597775058284.fits", "sub/spec-15000-59000-0001.fits"]
    # one pattern as before
    assert raw_manifest.listing(tmp_path / "sub", "spec-1500-*").count("\n") == 2


def test_manifest_step_takes_several_globs(tmp_path):
    _touch(tmp_path / "d" / "spec-0266-51602-0013.fits")
    _touch(tmp_path / "d" / "spec-000266-60000-1.fits")
    _touch(tmp_path / "d" / "spec-1266-52000-0001.fits")
    out = tmp_path / "raw" / "266.tsv"
    raw_manifest.main(["--dir", str(tmp_path / "d"), "--glob", "spec-0266-*", "spec-000266-*",
                       "--out", str(out), "--version-name", "v1"])  # fmt: skip
    names = [line.split("\t")[0] for line in out.read_text().splitlines()[1:]]
    assert names == ["spec-000266-60000-1.fits", "spec-0266-51602-0013.fits"]
