// A screening's answer: verdict, timeline, player, the most suspicious frames, face boxes.

import { $, fmt, row, state } from "./common.js";
import { drawFrameHeatmaps } from "./heatmap.js";

const THUMBS = 6;
// what the overlays are drawn from: the shown result, and each thumbnail's picture before them
const shown = { frames: [], video: null, thumbs: [] };
const NOT_APPLICABLE =
  "The model screens faces and found none large enough in the frames it screened, so it says nothing about this video.";

export function showResult(result, file, mode) {
  const { summary, video, timings, frames } = result;
  $("results").hidden = false;
  $("mode-line").textContent = mode;
  const verdict = $("verdict");
  verdict.dataset.verdict = summary.verdict;
  verdict.textContent = {
    synthetic: "Likely synthetic",
    authentic: "Likely authentic",
    not_applicable: "Not applicable",
  }[summary.verdict] ?? summary.verdict;
  $("verdict-note").textContent = summary.verdict === "not_applicable"
    ? NOT_APPLICABLE
    : `Mean p_synthetic ${fmt(summary.mean_p_synthetic)} against the model's threshold ${fmt(summary.threshold, 4)}.`;

  const facts = $("facts");
  facts.replaceChildren();
  row(facts, "mean p_synthetic", fmt(summary.mean_p_synthetic), "mean_p_synthetic");
  row(facts, "max p_synthetic", fmt(summary.max_p_synthetic), "max_p_synthetic");
  row(facts, "frames at or above the threshold", fmt(summary.fraction_above_threshold), "fraction_above_threshold");
  row(facts, "threshold", fmt(summary.threshold, 4), "threshold");
  if (summary.frames_with_faces != null) row(facts, "frames with faces", summary.frames_with_faces, "frames_with_faces");
  row(facts, "video", `${video.width} x ${video.height}, ${video.codec} in ${video.container}`, "video");
  row(facts, "duration", video.duration_s != null ? `${fmt(video.duration_s, 2)} s` : "-", "duration_s");
  row(facts, "frames screened / decoded", `${video.frames_screened} / ${video.frames_decoded}`, "frames_screened");
  row(facts, "timings (s)", `upload ${fmt(timings.upload_s)}, decode ${fmt(timings.decode_s)}, queue ${fmt(timings.queue_s)}, inference ${fmt(timings.inference_s)}, total ${fmt(timings.total_s)}`, "timings");
  row(facts, "frames/s", fmt(timings.frames_per_s, 1), "frames_per_s");

  const player = $("video");
  if (player.dataset.url) URL.revokeObjectURL(player.dataset.url);
  player.dataset.url = URL.createObjectURL(file);
  player.src = player.dataset.url;
  shown.frames = frames;
  shown.video = video;
  player.onseeked = drawOverlay;
  player.ontimeupdate = drawOverlay;
  player.onloadedmetadata = drawOverlay;

  const tbody = $("frames").tBodies[0];
  tbody.replaceChildren();
  for (const frame of frames) {
    const tr = tbody.insertRow();
    tr.dataset.index = frame.index;
    tr.dataset.p = frame.p_synthetic ?? "";
    tr.dataset.time = frame.time_s;
    tr.insertCell().textContent = frame.index;
    tr.insertCell().textContent = fmt(frame.time_s);
    tr.insertCell().textContent = frame.p_synthetic == null ? "no face" : fmt(frame.p_synthetic);
    const button = document.createElement("button");
    button.className = "link";
    button.type = "button";
    button.textContent = "show";
    button.setAttribute("aria-label", `show frame ${frame.index} in the video`);
    button.onclick = () => seek(frame);
    tr.insertCell().append(button);
  }
  drawChart(frames);
  cutThumbnails(frames, file, video);
}

function seek(frame) {
  $("video").currentTime = frame.time_s;
}

let chart;
function drawChart(frames) {
  const el = $("chart");
  chart?.destroy();
  const times = frames.map((f) => f.time_s);
  const data = [times, frames.map((f) => f.p_synthetic), times.map(() => state.threshold)];
  chart = new uPlot(chartOptions(el, "time (s)"), data, el);
  chart.over.addEventListener("click", () => {
    const i = chart.cursor.idx;
    if (i != null) seek(frames[i]);
  });
}

export function chartOptions(el, xLabel) {
  return {
    width: Math.max(280, el.clientWidth || 480),
    height: 240,
    scales: { x: { time: false }, y: { range: [0, 1] } },
    axes: [{ label: xLabel }, { label: "p_synthetic" }],
    series: [
      { label: xLabel },
      { label: "p_synthetic", stroke: "#b3261e", width: 2, points: { show: true, size: 5 } },
      { label: "threshold", stroke: "#4a5360", dash: [6, 4], points: { show: false } },
    ],
  };
}

/** Each face's box and p_synthetic, red at or above the threshold, on a canvas showing the
frame at `sx`, `sy` canvas pixels per source pixel. */
function faceBoxes(ctx, faces, sx, sy) {
  ctx.lineWidth = 2;
  ctx.font = "14px system-ui, sans-serif";
  for (const face of faces ?? []) {
    const [x1, y1, x2, y2] = face.box;
    ctx.strokeStyle = face.p_synthetic >= state.threshold ? "#ff3b30" : "#34c759";
    ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillText(fmt(face.p_synthetic, 2), x1 * sx + 2, Math.max(12, y1 * sy - 3));
  }
}

/** On the canvas `overlay` over the element `media`: where the model looks in `frame`
(when shown) and a face model's boxes, the frame being `width` x `height` pixels; nothing
when there is no frame. */
export function drawOver(overlay, media, frame, width, height) {
  overlay.width = media.clientWidth;
  overlay.height = media.clientHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const [sx, sy] = [overlay.width / width, overlay.height / height];
  overlay.dataset.heatmap = frame && drawFrameHeatmaps(ctx, frame, sx, sy) ? "shown" : "";
  if (frame && state.faceModel) faceBoxes(ctx, frame.faces, sx, sy);
}

/** Over the player, the screened frame nearest the video's current time. */
function drawOverlay() {
  const { frames, video } = shown;
  const player = $("video");
  const t = player.currentTime;
  const nearest = frames.length
    ? frames.reduce((a, b) => (Math.abs(b.time_s - t) < Math.abs(a.time_s - t) ? b : a)) : null;
  drawOver($("overlay"), player, nearest, video.width, video.height);
}

/** A thumbnail's picture, then what is drawn over it: where the model looks, the faces. */
function drawThumb({ canvas, picture, frame }) {
  const ctx = canvas.getContext("2d");
  ctx.putImageData(picture, 0, 0);
  const [sx, sy] = [canvas.width / shown.video.width, canvas.height / shown.video.height];
  canvas.closest("figure").dataset.heatmap = drawFrameHeatmaps(ctx, frame, sx, sy) ? "shown" : "";
  faceBoxes(ctx, frame.faces, sx, sy);
}

/** The toggle changed: draw the overlays again, with or without the heatmaps. */
export function redrawOverlays() {
  $("heatmap-note").hidden = !($("heatmap").checked && shown.frames.some(hasHeatmap));
  if (!shown.video) return;
  drawOverlay();
  shown.thumbs.forEach(drawThumb);
}

function hasHeatmap(frame) {
  return Boolean(frame.heatmap || frame.faces?.some((face) => face.heatmap));
}

/** The most suspicious frames, cut by the browser from a video element of its own. */
async function cutThumbnails(frames, file, video) {
  const box = $("thumbs");
  box.replaceChildren();
  shown.thumbs = [];
  $("heatmap-note").hidden = !($("heatmap").checked && frames.some(hasHeatmap));
  const worst = frames.filter((f) => f.p_synthetic != null)
    .sort((a, b) => b.p_synthetic - a.p_synthetic).slice(0, THUMBS);
  const cutter = document.createElement("video");
  cutter.muted = true;
  cutter.preload = "auto";
  cutter.src = URL.createObjectURL(file);
  try {
    await new Promise((resolve, reject) => {
      cutter.onloadeddata = resolve;
      cutter.onerror = () => reject(new Error("the browser cannot play this video"));
    });
    for (const frame of worst) {
      await new Promise((resolve) => {
        cutter.onseeked = resolve;
        cutter.currentTime = frame.time_s;
      });
      const canvas = document.createElement("canvas");
      canvas.width = 320;
      canvas.height = Math.round(320 * video.height / video.width);
      const ctx = canvas.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(cutter, 0, 0, canvas.width, canvas.height);
      const thumb = { canvas, picture: ctx.getImageData(0, 0, canvas.width, canvas.height), frame };
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.textContent = `frame ${frame.index} at ${fmt(frame.time_s, 2)} s: p ${fmt(frame.p_synthetic)}`;
      const button = document.createElement("button");
      button.className = "link";
      button.type = "button";
      button.setAttribute("aria-label", `show frame ${frame.index} in the video`);
      button.append(canvas);
      button.onclick = () => seek(frame);
      figure.append(button, caption);
      figure.dataset.index = frame.index;
      box.append(figure);
      shown.thumbs.push(thumb);
      drawThumb(thumb);
    }
  } catch (error) {
    box.textContent = `No thumbnails: ${error.message}.`;
  } finally {
    URL.revokeObjectURL(cutter.src);
  }
}
