"""Write ``src/sdssflow/data/sky/f107_daily.csv``: daily noon F10.7 from the Penticton record, 1998-07-01 on.

Usage::

    python src/sdssflow/data/sky/make_f107.py PENTICTON_FLUXTABLE [CELESTRAK_SW_CSV]

The daily value is the Penticton (DRAO, NRCan) measurement at 20:00 UT, local noon, which is
the value the NOAA/CelesTrak daily series carry; on a day without a 20:00 UT row the row nearest
to 20:00 UT is used. From 2004-10-28 the rows come from the Penticton flux table
(``fluxtable.txt``: fluxdate, fluxtime, fluxobsflux, fluxadjflux columns); the days before are
the same Penticton noon series as published in CelesTrak's ``SW-All.csv`` (``F10.7_OBS``,
``F10.7_ADJ``; rows of F10.7_DATA_TYPE OBS only). The two agree on the days they share (checked
by this script on 2004-10-28 to 2004-12-31: it stops if any day differs by more than 0.1 sfu).
The 81-day centred mean is not stored: :func:`sdssflow.sky.tables.f107_mean81` computes it.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from astropy.time import Time

from sdssflow.resources import data_path
from sdssflow.sky.tables import read_penticton

# The packaged table; run with the package installed from a checkout (pip install -e .),
# so that the file written is the one the repository ships.
OUT = data_path("sky/f107_daily.csv")
FIRST = "1998-07-01"


def _celestrak(path: Path) -> dict[int, tuple[float, float]]:
    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["F10.7_DATA_TYPE"].strip() != "OBS" or not row["F10.7_OBS"].strip():
                continue
            mjd = int(round(Time(row["DATE"]).mjd))
            out[mjd] = (float(row["F10.7_OBS"]), float(row["F10.7_ADJ"]))
    return out


def main(argv: list[str]) -> int:
    pent = read_penticton(argv[0])
    days = {int(m): (o, a, "penticton_fluxtable") for m, o, a in zip(pent["mjd"], pent["f107_obs"], pent["f107_adj"])}
    first_pent = min(days)
    if len(argv) > 1:
        older = _celestrak(Path(argv[1]))
        for mjd, (obs, adj) in older.items():
            if mjd in days and mjd < first_pent + 65 and abs(days[mjd][0] - obs) > 0.1:
                raise SystemExit(f"MJD {mjd}: Penticton {days[mjd][0]} != CelesTrak {obs}")
            if mjd < first_pent and mjd >= Time(FIRST).mjd:
                days[mjd] = (obs, adj, "celestrak_sw_all")
    with open(OUT, "w", newline="") as fh:
        fh.write(
            "# Daily F10.7 solar radio flux at 20:00 UT (local noon) from the Penticton record (DRAO, NRCan),\n"
            "# solar flux units (1 sfu = 1e-22 W m-2 Hz-1). f107_obs = observed (use for the sky: it is what\n"
            "# reaches the Earth); f107_adj = adjusted to 1 AU. From 2004-10-28: the Penticton flux table\n"
            "# (spaceweather.gc.ca fluxtable.txt); before: the same Penticton noon series as distributed by\n"
            "# CelesTrak (celestrak.org/SpaceData/SW-All.csv). mjd = civil date at 0h UT.\n"
            "# Written by data/sky/make_f107.py; the 81-day centred mean is computed by sdssflow.sky.tables.\n"
        )
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["mjd", "date", "f107_obs", "f107_adj", "source"])
        for mjd in sorted(days):
            obs, adj, src = days[mjd]
            w.writerow([mjd, Time(mjd, format="mjd").iso[:10], f"{obs:g}", f"{adj:g}", src])
    print(f"{OUT}: {len(days)} days, MJD {min(days)}-{max(days)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
