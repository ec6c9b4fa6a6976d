"""Colour-guided filtering (He, Sun and Tang, "Guided Image Filtering", 2010/2013): a coarse map
made to follow the edges of the picture it belongs to.

In every window the output is a linear function of the guide's three colours, fitted by ridge
regression to the input map; each pixel averages the fits of the windows that contain it. Where
the guide has an edge the output can step with it; where the guide is flat the output is the
input's local mean. Windows are clipped at the image's borders (means over the pixels inside).
"""

from __future__ import annotations

import numpy as np

from ._checks import require_dtype, require_ndim
from ._compile import helper, kernel


@helper
def _integral(plane: np.ndarray, out: np.ndarray) -> None:
    # out[y + 1, x + 1] = sum of plane[:y + 1, :x + 1]; row 0 and column 0 stay zero
    h, w = plane.shape
    for y in range(h):
        run = 0.0
        for x in range(w):
            run += plane[y, x]
            out[y + 1, x + 1] = out[y, x + 1] + run


@helper
def _window_mean(table: np.ndarray, y: int, x: int, radius: int) -> float:
    # the mean over the window around (y, x) clipped to the image, from its integral image
    h = table.shape[0] - 1
    w = table.shape[1] - 1
    y0 = max(y - radius, 0)
    y1 = min(y + radius + 1, h)
    x0 = max(x - radius, 0)
    x1 = min(x + radius + 1, w)
    total = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return total / np.float64((y1 - y0) * (x1 - x0))


@kernel("void(float32[:, :, ::1], float32[:, ::1], int64, float64, float32[:, ::1])")
def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, out: np.ndarray) -> None:
    h, w = src.shape
    # products whose window means the fit needs: I_c (3), p, I_c p (3), I_c I_d (6)
    planes = np.empty((13, h, w), np.float64)
    for y in range(h):
        for x in range(w):
            r = np.float64(guide[y, x, 0])
            g = np.float64(guide[y, x, 1])
            b = np.float64(guide[y, x, 2])
            p = np.float64(src[y, x])
            planes[0, y, x] = r
            planes[1, y, x] = g
            planes[2, y, x] = b
            planes[3, y, x] = p
            planes[4, y, x] = r * p
            planes[5, y, x] = g * p
            planes[6, y, x] = b * p
            planes[7, y, x] = r * r
            planes[8, y, x] = r * g
            planes[9, y, x] = r * b
            planes[10, y, x] = g * g
            planes[11, y, x] = g * b
            planes[12, y, x] = b * b
    tables = np.zeros((13, h + 1, w + 1), np.float64)
    for k in range(13):
        _integral(planes[k], tables[k])
    # each window's fit a . I + b, reusing `planes` 0..3 for a_r, a_g, a_b, b
    fit = planes[:4]
    m = np.empty(13, np.float64)
    for y in range(h):
        for x in range(w):
            for k in range(13):
                m[k] = _window_mean(tables[k], y, x, radius)
            mr, mg, mb, mp = m[0], m[1], m[2], m[3]
            cr = m[4] - mr * mp
            cg = m[5] - mg * mp
            cb = m[6] - mb * mp
            # the guide's covariance in the window, eps on the diagonal, inverted by cofactors
            srr = m[7] - mr * mr + eps
            srg = m[8] - mr * mg
            srb = m[9] - mr * mb
            sgg = m[10] - mg * mg + eps
            sgb = m[11] - mg * mb
            sbb = m[12] - mb * mb + eps
            i_rr = sgg * sbb - sgb * sgb
            i_rg = srb * sgb - srg * sbb
            i_rb = srg * sgb - srb * sgg
            i_gg = srr * sbb - srb * srb
            i_gb = srb * srg - srr * sgb
            i_bb = srr * sgg - srg * srg
            det = srr * i_rr + srg * i_rg + srb * i_rb
            ar = (i_rr * cr + i_rg * cg + i_rb * cb) / det
            ag = (i_rg * cr + i_gg * cg + i_gb * cb) / det
            ab = (i_rb * cr + i_gb * cg + i_bb * cb) / det
            fit[0, y, x] = ar
            fit[1, y, x] = ag
            fit[2, y, x] = ab
            fit[3, y, x] = mp - ar * mr - ag * mg - ab * mb
    for k in range(4):
        tables[k, :, :] = 0.0
        _integral(fit[k], tables[k])
    for y in range(h):
        for x in range(w):
            out[y, x] = np.float32(_window_mean(tables[0], y, x, radius) * guide[y, x, 0]
                                   + _window_mean(tables[1], y, x, radius) * guide[y, x, 1]
                                   + _window_mean(tables[2], y, x, radius) * guide[y, x, 2]
                                   + _window_mean(tables[3], y, x, radius))


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """`src` filtered with `guide`'s colours as the guide: edges of `guide` kept, the rest smoothed.

    `guide` is (h, w, 3) float32 (colours, e.g. RGB / 255), `src` (h, w) float32 (e.g. a
    probability map), `radius` the window's half-size in pixels (windows are 2 radius + 1
    square, clipped at the borders), `eps` > 0 the ridge term in the guide's units squared:
    an edge weaker than about sqrt(eps) is smoothed over. Returns (h, w) float32, computed in
    float64; not clipped (it can overshoot the input's range slightly near edges).
    """
    require_dtype("guide", guide, (np.float32,))
    require_dtype("src", src, (np.float32,))
    require_ndim("guide", guide, 3, "(h, w, 3) colours")
    require_ndim("src", src, 2, "(h, w) map")
    if guide.shape != src.shape + (3,):
        raise ValueError(f"guide must be (h, w, 3) over src's (h, w), got {guide.shape} and {src.shape}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0 (it keeps flat windows solvable), got {eps}")
    out = np.empty(src.shape, np.float32)
    if out.size:
        _guided_filter(np.ascontiguousarray(guide), np.ascontiguousarray(src), int(radius), float(eps), out)
    return out
