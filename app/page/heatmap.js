// Where the model looks: the attention maps of heatmap=true, drawn over frames and faces.

import { $, state } from "./common.js";

/** Whether heatmaps are asked for and shown: the toggle is on and the model has them. */
export function heatmapsOn() {
  return state.heatmaps && $("heatmap").checked;
}

/** A grid of values in [0, 1] (rows top to bottom) over the rectangle x, y, w, h of `ctx`:
clear where the model looks least, a warm, denser shade where it looks most. */
export function drawHeatmap(ctx, grid, x, y, w, h) {
  const rows = grid.length;
  const cols = grid[0]?.length ?? 0;
  if (!rows || !cols) return;
  const cells = new ImageData(cols, rows);
  grid.forEach((values, i) => values.forEach((v, j) => {
    cells.data.set([255, Math.round(220 * (1 - v)), 0, Math.round(170 * v)], (i * cols + j) * 4);
  }));
  const small = new OffscreenCanvas(cols, rows);
  small.getContext("2d").putImageData(cells, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true; // the cells blend into each other, as attention does
  ctx.drawImage(small, x, y, w, h);
  ctx.restore();
}

/** The maps of one screened frame on a canvas showing it at `sx`, `sy` canvas pixels per
source pixel: the frame's own (frame models), or each face's over its crop's region. */
export function drawFrameHeatmaps(ctx, frame, sx, sy) {
  if (!heatmapsOn()) return false;
  if (frame.heatmap) drawHeatmap(ctx, frame.heatmap, 0, 0, ctx.canvas.width, ctx.canvas.height);
  for (const face of frame.faces ?? []) {
    if (!face.heatmap || !face.heatmap_box) continue;
    const [x1, y1, x2, y2] = face.heatmap_box;
    drawHeatmap(ctx, face.heatmap, x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
  }
  return Boolean(frame.heatmap || frame.faces?.some((face) => face.heatmap));
}

/** Each frame's map (N, h, w) of an ONNX Runtime Web tensor, as the API gives them: rows of
values in [0, 1] to 3 decimals. */
export function tensorMaps(tensor) {
  const [count, rows, cols] = tensor.dims;
  const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
  return Array.from({ length: count }, (_, n) => Array.from({ length: rows }, (_, i) =>
    Array.from(tensor.data.subarray((n * rows + i) * cols, (n * rows + i + 1) * cols), round)));
}
