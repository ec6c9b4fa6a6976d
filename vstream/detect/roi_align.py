"""RoIAlign (He et al., Mask R-CNN) written with `F.grid_sample`, so no torchvision is needed
(DESIGN.md, "Models without a model hub") and it exports to ONNX as GridSample + AveragePool.

Semantics (torchvision's `roi_align(..., aligned=True)` with a fixed sampling ratio): a box in
input pixels is scaled by `spatial_scale` and shifted by half a cell, so cell centres sit on
integer feature coordinates; the box is cut into `output_size` bins, each bin is sampled at
`sampling_ratio` x `sampling_ratio` evenly spaced points by bilinear interpolation, and the
points of a bin are averaged. A point outside the map takes the value at the nearest border
(torchvision clamps too, but returns 0 beyond one cell outside; boxes that far out are not
produced by our decoder, which clips to the image). `rois` of all frames are sampled in one
`grid_sample` call over the frames laid side by side (see the comment in the code).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def roi_align(
    features: torch.Tensor,
    rois: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """Pool a fixed-size patch of `features` (B, C, H, W) for each of `rois` (K, 5).

    rois: rows (batch_index, x1, y1, x2, y2), boxes in input pixels; `spatial_scale` maps
    input pixels to feature cells (1/stride). Returns (K, C, out_h, out_w); K may be 0.
    """
    # shape checks are Python booleans that tracing would freeze; the export feeds valid shapes
    if not torch.onnx.is_in_onnx_export() and (rois.ndim != 2 or rois.shape[1] != 5):
        raise ValueError(f"rois must be (K, 5) rows of (batch_index, x1, y1, x2, y2), got {tuple(rois.shape)}")
    if sampling_ratio < 1:
        raise ValueError(f"sampling_ratio must be >= 1, got {sampling_ratio}")
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    _, channels, height, width = features.shape
    rois = rois.to(features.dtype)
    # aligned=True: pixel centre convention, a cell's centre is at integer coordinates
    x1 = rois[:, 1] * spatial_scale - 0.5
    y1 = rois[:, 2] * spatial_scale - 0.5
    bin_w = (rois[:, 3] * spatial_scale - 0.5 - x1) / out_w
    bin_h = (rois[:, 4] * spatial_scale - 0.5 - y1) / out_h
    # sample point j of a row of out_w * s points sits at (j + 0.5) / s bins from the box edge
    s = sampling_ratio
    steps_x = (torch.arange(out_w * s, device=features.device, dtype=features.dtype) + 0.5) / s
    steps_y = (torch.arange(out_h * s, device=features.device, dtype=features.dtype) + 0.5) / s
    px = x1[:, None] + steps_x[None, :] * bin_w[:, None]  # (K, out_w * s) in cells
    py = y1[:, None] + steps_y[None, :] * bin_h[:, None]  # (K, out_h * s)
    # Border padding done by hand (clamp to the outermost cell centres), so the frames of the
    # batch can sit side by side in one wide map: one grid_sample over (1, C, H, B * W) samples
    # every roi from its own frame without copying a feature map per roi, and a clamped point
    # never blends in the neighbouring frame's columns.
    batch = features.shape[0]
    frame = rois[:, 0].round()
    px = px.clamp(0.0, width - 1.0) + frame[:, None] * width
    py = py.clamp(0.0, height - 1.0)
    # grid_sample with align_corners=False puts cell i's centre at (2i + 1) / size - 1
    gx = (2.0 * px + 1.0) / (batch * width) - 1.0
    gy = (2.0 * py + 1.0) / height - 1.0
    k = rois.shape[0]
    grid = torch.stack(
        (gx[:, None, :].expand(-1, out_h * s, -1), gy[:, :, None].expand(-1, -1, out_w * s)), dim=-1
    ).reshape(1, k * out_h * s, out_w * s, 2)
    packed = features.permute(1, 2, 0, 3).reshape(1, channels, height, batch * width)
    sampled = F.grid_sample(packed, grid, mode="bilinear", padding_mode="border", align_corners=False)
    sampled = sampled.reshape(channels, k, out_h * s, out_w * s).permute(1, 0, 2, 3)
    if s == 1:
        return sampled.contiguous()
    return F.avg_pool2d(sampled, kernel_size=s, stride=s)
