"""Spatial attention over video frames: the CSPA map Z_att^v (or the baseline's) as a heat overlay.

The attention lives on the backbone's H x W grid (7 x 7 for VGG19/MobileNetV2 at 224 px); it is
upsampled bicubically to the frame so the hot spot is a smooth blob at the attended cells, not
a block mosaic (Fig. 6 of the paper).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from viz.summary import span_label

CAPTION_HEIGHT_PX = 22  # strip above each tile in the gallery grid, for one line of "3-4 s: Bark"
CAPTION_LINE_PX = 16  # each further line of a wrapped caption
CAPTION_PAD_PX = 2  # caption text inset from the tile's left edge
MUTED_TEXT = "#808080"  # caption of a muted tile
TILE_GAP_PX = 4  # white gap between gallery tiles
DIM_WHITE = 0.45  # share of white blended into a dimmed overlay: paler, its colours still readable
COLORBAR_PX = 30  # strip under a gallery grid: the colour scale and what it means
COLORBAR_TEXT = ("low", "attention in the second (each second scaled to its own range)", "high")
# The true object box (composite examples know it): a white line between two black ones, visible on
# any colour of the heat map and on the dimmed tiles alike.
BOX_COLOR, BOX_EDGE = (255, 255, 255), (0, 0, 0)
BOX_LEGEND = "true object box"  # its entry in the colour bar strip
LEGEND_GAP_PX = 18  # between the colour bar's text and the box legend


def _check_frame(name: str, frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"{name}: expected an RGB image (H, W, 3) uint8, got shape {frame.shape} {frame.dtype}"
        )


def upsample_attention(attention: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic (height, width) map of the (h, w) grid, min-max normalised to [0, 1] for display.

    Cell (i, j) covers pixels [i*height/h, (i+1)*height/h) x [j*width/w, (j+1)*width/w) (cell
    centres align with pixel centres, as PIL resizes). A flat map carries no location: all zeros.
    """
    attention = np.asarray(attention, dtype=np.float32)
    if attention.ndim != 2 or attention.size == 0 or not np.isfinite(attention).all():
        raise ValueError(f"attention: expected a finite (h, w) grid, got shape {attention.shape}")
    upsampled = np.asarray(Image.fromarray(attention, mode="F").resize((width, height), Image.BICUBIC))
    # bicubic overshoots beyond the grid's range and would draw dark rings round a peak
    upsampled = np.clip(upsampled, attention.min(), attention.max())
    low, high = float(upsampled.min()), float(upsampled.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return np.zeros((height, width), dtype=np.float32)
    return ((upsampled - low) / (high - low)).astype(np.float32)  # (height, width) in [0, 1]


def attention_heat(attention: np.ndarray, height: int, width: int, colormap: str = "jet") -> np.ndarray:
    """The (h, w) attention grid colour-mapped at (height, width): (height, width, 3) uint8 RGB."""
    if colormap not in colormaps:
        raise ValueError(f"colormap: unknown matplotlib colormap {colormap!r}; e.g. jet, inferno, viridis")
    heat = upsample_attention(attention, height, width)  # (H, W) in [0, 1]
    lut = np.rint(colormaps[colormap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.uint8)
    return lut[np.rint(heat * 255.0).astype(np.intp)]  # (H, W, 3), one table look-up per pixel


def blend(frame: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """(1 - alpha) * frame + alpha * heat, rounded, in uint8 (a video frame's worth at a time)."""
    mixed = (1.0 - alpha) * frame.astype(np.float32) + alpha * heat.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def caption_band(text: str, width: int, muted: bool = False) -> np.ndarray:
    """One line of caption, black (grey when muted) on white, `width` pixels wide: (H, width, 3)."""
    font = ImageFont.load_default(size=max(14, width // 60))
    height = int(font.size * 1.5)
    band = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(band).text((6, height // 6), text, fill=MUTED_TEXT if muted else "black", font=font)
    return np.asarray(band).copy()


def attention_overlay(
    frame: np.ndarray, attention: np.ndarray, alpha: float = 0.5, colormap: str = "jet"
) -> np.ndarray:
    """Blend a colour-mapped attention grid onto a frame; the output has the frame's exact size.

    frame: (H, W, 3) uint8 RGB. attention: (h, w) weights, e.g. Z_att^v of one segment.
    alpha: weight of the heat map (0 = frame only, 1 = heat map only).
    """
    frame = np.asarray(frame)
    _check_frame("frame", frame)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected a blend weight in [0, 1], got {alpha}")
    return blend(frame, attention_heat(attention, frame.shape[0], frame.shape[1], colormap), alpha)


def _segment_captions(count: int, labels: list[str] | None, seconds: list[int] | None) -> list[str]:
    if labels is not None and len(labels) != count:
        raise ValueError(f"labels: expected one label per segment ({count}), got {len(labels)}")
    if seconds is not None and len(seconds) != count:
        raise ValueError(f"seconds: expected one second per segment ({count}), got {len(seconds)}")
    starts = list(range(count)) if seconds is None else [int(t) for t in seconds]
    return [
        f"{span_label(t, t + 1)} s" + (f": {labels[i]}" if labels is not None else "")
        for i, t in enumerate(starts)
    ]


def draw_box(image: np.ndarray, box: np.ndarray | None) -> np.ndarray:
    """A copy of `image` with the outline of `box` = (x0, y0, x1, y1) as fractions of its width and
    height (BOX_COLOR edged by BOX_EDGE); unchanged for None or a NaN box (the object not visible)."""
    if box is None or not np.isfinite(box).all():
        return image
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    corners = [round(x0 * width), round(y0 * height), round(x1 * width) - 1, round(y1 * height) - 1]
    canvas = Image.fromarray(image)
    _outline(ImageDraw.Draw(canvas), corners)
    return np.asarray(canvas).copy()


def _outline(draw: ImageDraw.ImageDraw, corners: list[int]) -> None:
    """A 2-px BOX_COLOR rectangle on `corners` (left, top, right, bottom), a BOX_EDGE pixel each side."""
    left, top, right, bottom = corners
    draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], outline=BOX_EDGE, width=4)
    draw.rectangle(corners, outline=BOX_COLOR, width=2)


def _has_boxes(boxes: np.ndarray | None) -> bool:
    return boxes is not None and bool(np.isfinite(boxes).all(axis=-1).any())


def mute(image: np.ndarray) -> np.ndarray:
    """A paler copy that keeps its colours: a background or abstained second is dimmed, not hidden,
    since where a model looks when it finds no event is what a researcher inspects."""
    dimmed = DIM_WHITE * 255.0 + (1 - DIM_WHITE) * image.astype(np.float32)
    return np.clip(np.rint(dimmed), 0, 255).astype(np.uint8)


def attention_overlays(
    frames: np.ndarray,
    attentions: np.ndarray,
    labels: list[str] | None = None,
    alpha: float = 0.5,
    colormap: str = "jet",
    muted: list[bool] | None = None,
    seconds: list[int] | None = None,
    boxes: np.ndarray | None = None,
) -> list[tuple[np.ndarray, str]]:
    """Per-segment (overlay, caption) pairs.

    frames: (T, H, W, 3) uint8, one frame per 1-s segment; attentions: (T, h, w);
    labels: optional per-segment text (e.g. the predicted class) appended to "3-4 s";
    muted: per segment, True to dim the overlay (background or abstained seconds);
    seconds: the clip second of each segment (default 0..T-1), for a selection of a long clip;
    boxes: (T, 4) true object box per segment as fractions of the frame (draw_box), NaN where hidden.
    """
    frames = np.asarray(frames)
    attentions = np.asarray(attentions)
    if frames.ndim != 4 or attentions.ndim != 3 or frames.shape[0] != attentions.shape[0]:
        raise ValueError(
            f"frames/attentions: expected (T, H, W, 3) and (T, h, w) with the same T, "
            f"got {frames.shape} and {attentions.shape}"
        )
    captions = _segment_captions(frames.shape[0], labels, seconds)
    muted = muted if muted is not None else [False] * frames.shape[0]
    if len(muted) != frames.shape[0]:
        raise ValueError(f"muted: expected one flag per segment ({frames.shape[0]}), got {len(muted)}")
    overlays = [
        attention_overlay(frame, attention, alpha, colormap)
        for frame, attention in zip(frames, attentions, strict=True)
    ]
    if boxes is not None and len(boxes) != frames.shape[0]:
        raise ValueError(f"boxes: expected one box per segment ({frames.shape[0]}), got {len(boxes)}")
    drawn = [None] * frames.shape[0] if boxes is None else list(boxes)
    return [
        (draw_box(mute(image) if off else image, box), caption)
        for image, caption, off, box in zip(overlays, captions, muted, drawn, strict=True)
    ]


def attention_gallery(
    frames: np.ndarray,
    attentions: np.ndarray,
    labels: list[str] | None = None,
    columns: int = 5,
    alpha: float = 0.5,
    colormap: str = "jet",
    muted: list[bool] | None = None,
    seconds: list[int] | None = None,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """All segments' overlays tiled in one RGB image (rows of `columns`), each under its caption.

    One image instead of one file per second: the app serves two files, not twenty. A caption
    wider than its tile wraps onto more lines (every tile's strip is as tall as the tallest);
    a muted segment's overlay is dimmed and its caption grey. The colour scale is drawn under the
    grid (COLORBAR_PX), with the BOX_LEGEND entry when `boxes` outline any object. Returns
    (rows * (strip + H) + gaps + COLORBAR_PX, cols * W + gaps, 3)
    uint8; `gallery_tiles` cuts it back.
    """
    if columns < 1:
        raise ValueError(f"columns: expected >= 1, got {columns}")
    overlays = attention_overlays(frames, attentions, labels, alpha, colormap, muted, seconds, boxes)
    muted = muted if muted is not None else [False] * len(overlays)
    height, width = overlays[0][0].shape[:2]
    font = ImageFont.load_default(size=CAPTION_HEIGHT_PX - 8)
    wrapped = [_wrap(caption, font, width - 2 * CAPTION_PAD_PX) for _, caption in overlays]
    strip = CAPTION_HEIGHT_PX + CAPTION_LINE_PX * (max(len(lines) for lines in wrapped) - 1)
    cols, rows = _grid_shape(len(overlays), columns)
    tile_h, tile_w = strip + height, width
    grid_h = rows * tile_h + (rows - 1) * TILE_GAP_PX
    canvas = Image.new("RGB", (cols * tile_w + (cols - 1) * TILE_GAP_PX, grid_h + COLORBAR_PX), "white")
    draw = ImageDraw.Draw(canvas)
    _draw_colorbar(canvas, draw, grid_h, colormap, font, legend=_has_boxes(boxes))
    for index, ((overlay, _), lines, off) in enumerate(zip(overlays, wrapped, muted, strict=True)):
        left, top = _tile_origin(index, cols, tile_h, tile_w)
        for line_index, line in enumerate(lines):
            position = (left + CAPTION_PAD_PX, top + 3 + line_index * CAPTION_LINE_PX)
            draw.text(position, line, fill=MUTED_TEXT if off else "black", font=font)
        canvas.paste(Image.fromarray(overlay), (left, top + strip))
    return np.asarray(canvas)


def _draw_colorbar(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    top: int,
    colormap: str,
    font: ImageFont.FreeTypeFont,
    legend: bool = False,
) -> None:
    """The colour scale under the grid: "low", a gradient, "high", and what the colours measure;
    with `legend`, then a box swatch and BOX_LEGEND (on a narrow grid in place of the meaning)."""
    low, meaning, high = COLORBAR_TEXT
    bar_w, bar_h = min(240, canvas.width // 3), COLORBAR_PX - 14
    left = CAPTION_PAD_PX + int(font.getlength(low)) + 6
    ramp = colormaps[colormap](np.linspace(0.0, 1.0, bar_w))[:, :3] * 255.0  # (bar_w, 3)
    bar = np.repeat(np.rint(ramp).astype(np.uint8)[None], bar_h, axis=0)
    canvas.paste(Image.fromarray(bar), (left, top + 8))
    draw.text((CAPTION_PAD_PX, top + 8), low, fill="black", font=font)
    text, x = f"{high}: {meaning}", left + bar_w + 6
    if legend:
        swatch = 2 * bar_h
        entry = LEGEND_GAP_PX + swatch + 6 + font.getlength(BOX_LEGEND)
        text = text if x + font.getlength(text) + entry <= canvas.width else high
        start = round(x + font.getlength(text) + LEGEND_GAP_PX)
        _outline(draw, [start, top + 8, start + swatch, top + 8 + bar_h])
        draw.text((start + swatch + 6, top + 8), BOX_LEGEND, fill="black", font=font)
    draw.text((x, top + 8), text, fill="black", font=font)


def gallery_tiles(grid: np.ndarray, count: int, columns: int) -> list[np.ndarray]:
    """The `count` captioned tiles of an `attention_gallery` grid, in segment order (its inverse)."""
    cols, rows = _grid_shape(count, columns)
    tile_h = (grid.shape[0] - COLORBAR_PX - (rows - 1) * TILE_GAP_PX) // rows
    tile_w = (grid.shape[1] - (cols - 1) * TILE_GAP_PX) // cols
    tiles = []
    for index in range(count):
        left, top = _tile_origin(index, cols, tile_h, tile_w)
        tiles.append(grid[top : top + tile_h, left : left + tile_w])
    return tiles


def _tile_origin(index: int, cols: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """(left, top) pixel of tile `index` in a grid `cols` wide, row by row, TILE_GAP_PX apart."""
    return (index % cols) * (tile_w + TILE_GAP_PX), (index // cols) * (tile_h + TILE_GAP_PX)


def _grid_shape(count: int, columns: int) -> tuple[int, int]:
    """(columns, rows) of a grid of `count` tiles at most `columns` wide."""
    if count < 1:
        raise ValueError(f"count: expected at least one tile, got {count}")
    cols = min(columns, count)
    return cols, -(-count // cols)  # ceil


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Words of `text` on as few lines as fit `width` pixels (a single long word overflows)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines
