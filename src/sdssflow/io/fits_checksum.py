"""FITS checksums patched in place: the byte walker behind :func:`sdssflow.io.mwm.write_mwm`.

fitsio leaves DATASUM = 0 on empty HDUs and astropy's verification then fails; these functions
walk the HDUs of a written file and rewrite CHECKSUM/DATASUM per the FITS checksum standard
(ones' complement sums of big-endian 32-bit words, ASCII-encoded).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from astropy.io import fits

__all__ = ["fix_zero_datasums"]


def _ones_complement_sum(data: bytes, sum32: int = 0) -> int:
    """32-bit ones' complement sum of big-endian words (FITS checksum standard)."""
    arr = np.frombuffer(data, dtype=">u2").astype(np.uint64)
    hi = (sum32 >> 16) + int(arr[0::2].sum())
    lo = (sum32 & 0xFFFF) + int(arr[1::2].sum())
    while (hi >> 16) or (lo >> 16):
        hi, lo = (hi & 0xFFFF) + (lo >> 16), (lo & 0xFFFF) + (hi >> 16)
    return (hi << 16) + lo


def _encode_checksum(value: int) -> str:
    """ASCII encoding of a 32-bit checksum (FITS checksum standard, 16 characters)."""
    exclude = set(range(0x3A, 0x41)) | set(range(0x5B, 0x61))
    asc = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        q, r = byte // 4 + ord("0"), byte % 4
        ch = [q + r, q, q, q]
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                if ch[j] in exclude or ch[j + 1] in exclude:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            asc[4 * j + i] = ch[j]
    return bytes(asc[(i + 15) % 16] for i in range(16)).decode("ascii")


def _hdu_offsets(path) -> list[tuple[int, int, int]]:
    """(header start, data start, padded data end) byte offsets of every HDU of a FITS file.

    Walks the 2880-byte header blocks (data size = |BITPIX|/8 · GCOUNT · (PCOUNT + Π NAXISn));
    cheaper than opening the file with fitsio, which reads every table's column info.
    """
    data = Path(path).read_bytes()
    out, pos = [], 0
    while pos + 2880 <= len(data):
        start, keys, end_found = pos, {}, False
        while not end_found and pos + 2880 <= len(data):
            block = data[pos : pos + 2880]
            pos += 2880
            for i in range(0, 2880, 80):
                key = block[i : i + 8].rstrip()
                if key == b"END":
                    end_found = True
                    break
                if key in (b"BITPIX", b"PCOUNT", b"GCOUNT") or key.startswith(b"NAXIS"):
                    keys[key.decode()] = int(block[i + 10 : i + 80].split(b"/")[0])
        naxis = keys.get("NAXIS", 0)
        npix = int(np.prod([keys[f"NAXIS{k}"] for k in range(1, naxis + 1)])) if naxis else 0
        nbytes = (
            abs(keys.get("BITPIX", 8)) // 8 * keys.get("GCOUNT", 1) * (keys.get("PCOUNT", 0) + npix)
        )
        pos_end = pos + -(-nbytes // 2880) * 2880  # data padded to whole blocks (as fitsio)
        out.append((start, pos, pos_end))
        pos = pos_end
    return out


@functools.lru_cache(maxsize=1)
def _zero_datasum_card() -> bytes:
    """The DATASUM = '0' card exactly as astropy serialises it (built once: astropy's Card is slow)."""
    return str(fits.Card("DATASUM", "0", "data unit checksum")).encode("ascii")


def fix_zero_datasums(path) -> None:
    """Rewrite DATASUM of data-less HDUs as '0' and recompute their CHECKSUM, in place."""
    offsets = _hdu_offsets(path)
    with open(path, "r+b") as fh:
        for hstart, dstart, dend in offsets:
            if dend != dstart:
                continue  # data present: fitsio's sums are right
            fh.seek(hstart)
            head = bytearray(fh.read(dstart - hstart))
            cards = [bytes(head[i : i + 80]) for i in range(0, len(head), 80)]
            ki = next(i for i, c in enumerate(cards) if c.startswith(b"DATASUM "))
            ci = next(i for i, c in enumerate(cards) if c.startswith(b"CHECKSUM"))
            # cards exactly as astropy re-serialises them (it verifies its own string, not the bytes)
            head[ki * 80 : ki * 80 + 80] = _zero_datasum_card()
            head[ci * 80 : ci * 80 + 80] = f"CHECKSUM= '{'0' * 16}'   / HDU checksum".ljust(
                80
            ).encode("ascii")
            cs = _encode_checksum(~_ones_complement_sum(bytes(head)) & 0xFFFFFFFF)
            head[ci * 80 + 11 : ci * 80 + 27] = cs.encode("ascii")
            fh.seek(hstart)
            fh.write(head)
