// Live from the camera: getUserMedia -> canvas -> JPEG -> WS /v1/stream (kind images).

import { $, apiKey, fmt, needKey, row, state } from "./common.js";
import { heatmapsOn } from "./heatmap.js";
import { chartOptions, drawOver } from "./results.js";

const LIVE_FPS = 5;
const LIVE_IN_FLIGHT = 4; // camera frames awaiting answers before the page waits

let live = null;

function streamURL() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}/v1/stream`;
}

/** WebSocket subprotocols: ours, and the key (browsers cannot set headers on a WebSocket). */
function protocols() {
  const key = apiKey();
  if (!key) return ["distilscreen"];
  const b64url = btoa(String.fromCharCode(...new TextEncoder().encode(key)))
    .replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return ["distilscreen", `distilscreen.key.${b64url}`];
}

export async function startLive() {
  const status = $("live-status");
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  } catch (error) {
    status.textContent = `No camera: ${error.message}`;
    return;
  }
  const camera = $("camera");
  camera.srcObject = media;
  camera.hidden = false;
  await camera.play();
  const socket = new WebSocket(streamURL(), protocols());
  const times = [], ps = [], thresholds = [];
  const el = $("live-chart");
  const plot = new uPlot(chartOptions(el, "seconds"), [times, ps, thresholds], el);
  live = { media, socket, sent: new Map(), inFlight: 0, answered: 0, latencies: [], started: performance.now() };
  $("live-summary").hidden = true;
  $("live-start").disabled = true;
  $("live-stop").disabled = false;
  socket.onopen = () => {
    const config = { type: "config", kind: "images", client_id: "review-page", heatmap: heatmapsOn() };
    socket.send(JSON.stringify(config));
    live.timer = setInterval(sendFrame, 1000 / LIVE_FPS);
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "frame") {
      live.inFlight -= 1;
      live.answered += 1;
      const latency = performance.now() - live.sent.get(message.index);
      live.latencies.push(latency);
      times.push((performance.now() - live.started) / 1000);
      ps.push(message.p_synthetic);
      thresholds.push(state.threshold);
      plot.setData([times, ps, thresholds]);
      drawLive(message);
      status.textContent = `${live.answered} frames answered; p_synthetic ${fmt(message.p_synthetic)}; latency ${latency.toFixed(0)} ms`;
      status.dataset.answered = live.answered;
    } else if (message.type === "error") {
      if (!message.fatal) live.inFlight -= 1;
      if (message.code === "unauthorized") needKey();
      status.textContent = `${message.code}: ${message.message}`;
    } else if (message.type === "summary") {
      showLiveSummary(message);
    }
  };
  socket.onclose = () => endLive();
}

/** Over the camera, the latest answer (maps when asked for at the start and shown), in the
coordinates of the image sent: the camera's own size. */
function drawLive(frame) {
  const camera = $("camera");
  drawOver($("live-overlay"), camera, frame, camera.videoWidth, camera.videoHeight);
}

function sendFrame() {
  if (!live || live.socket.readyState !== WebSocket.OPEN || live.ending || live.inFlight >= LIVE_IN_FLIGHT) return;
  const camera = $("camera");
  const canvas = document.createElement("canvas");
  canvas.width = camera.videoWidth || 640;
  canvas.height = camera.videoHeight || 480;
  canvas.getContext("2d").drawImage(camera, 0, 0, canvas.width, canvas.height);
  live.inFlight += 1;
  const index = live.sent.size;
  live.sent.set(index, performance.now());
  canvas.toBlob((blob) => live?.socket.send(blob), "image/jpeg", 0.85);
}

export function stopLive() {
  if (!live) return;
  live.ending = true;
  clearInterval(live.timer);
  // the last images may still be turning into JPEG: end after them
  setTimeout(() => live?.socket.readyState === WebSocket.OPEN && live.socket.send(JSON.stringify({ type: "end" })), 300);
  $("live-stop").disabled = true;
}

function endLive() {
  if (!live) return;
  clearInterval(live.timer);
  live.media.getTracks().forEach((track) => track.stop());
  drawLive(null);
  $("camera").hidden = true;
  $("live-start").disabled = false;
  $("live-stop").disabled = true;
  live = null;
}

function showLiveSummary(summary) {
  const table = $("live-summary");
  table.replaceChildren();
  const sorted = [...live.latencies].sort((a, b) => a - b);
  row(table, "verdict", summary.verdict ?? "nothing screened", "verdict");
  row(table, "frames received / screened / bad", `${summary.frames_received} / ${summary.frames_screened} / ${summary.bad_frames}`, "frames_screened");
  row(table, "mean p_synthetic", fmt(summary.mean_p_synthetic), "mean_p_synthetic");
  row(table, "max p_synthetic", fmt(summary.max_p_synthetic), "max_p_synthetic");
  row(table, "latency p50 (ms)", sorted.length ? sorted[Math.floor(sorted.length / 2)].toFixed(0) : "-", "latency_p50");
  table.hidden = false;
}
