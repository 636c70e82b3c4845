"""Counting points into flat-top hexagons on a Web Mercator grid: only the bins reach the
browser."""

from __future__ import annotations

import math

import numpy as np

from tusk.geo.convert import (
    lonlat_to_mercator,
)


def hexbin(
    lon: np.ndarray, lat: np.ndarray, across: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Count points into flat-top hexagons in Web Mercator, `across` bins over the longer
    side of the data: (centre lon, centre lat, count, hexagon size in Mercator metres)."""
    return hexbin_members(lon, lat, across)[:4]


def hexbin_members(
    lon: np.ndarray, lat: np.ndarray, across: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """hexbin, plus the bin each point fell into."""
    mx, my = lonlat_to_mercator(lon, lat)
    extent = max(float(mx.max() - mx.min()), float(my.max() - my.min()))
    size = max(extent / (across * 1.5), 1.0)  # centre-to-corner; 1.5·size between columns
    # Axial coordinates of a flat-top hexagon grid, then cube rounding to the nearest centre.
    q = (2.0 / 3.0) * mx / size
    r = (-1.0 / 3.0 * mx + math.sqrt(3) / 3.0 * my) / size
    cq, cr = _hex_round(q, r)
    key = (cq.astype(np.int64) << 32) + (cr.astype(np.int64) & 0xFFFFFFFF)
    _, first, member, counts = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    bq, br = cq[first], cr[first]
    cx = size * 1.5 * bq
    cy = size * math.sqrt(3) * (br + bq / 2.0)
    lon_c = np.degrees(cx / 6378137.0)
    lat_c = np.degrees(2.0 * np.arctan(np.exp(cy / 6378137.0)) - math.pi / 2)
    return lon_c, lat_c, counts, size, member.reshape(-1)


def _hex_round(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hexagon centre for fractional axial coordinates (cube rounding)."""
    s = -q - r
    rq, rr, rs = np.round(q), np.round(r), np.round(s)
    dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    rq = np.where(fix_q, -rr - rs, rq)
    rr = np.where(fix_r, -rq - rs, rr)
    return rq.astype(np.int64), rr.astype(np.int64)
