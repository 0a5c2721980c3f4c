// The review page: upload a video or stream the camera, and see what the model says.
// Plain ES module, no build step; the chart is uPlot (vendored, a global).

const $ = (id) => document.getElementById(id);
const KEY = "distilscreen.key"; // sessionStorage: kept for this tab only
const LIVE_FPS = 5;
const LIVE_IN_FLIGHT = 4; // camera frames awaiting answers before the page waits
const THUMBS = 6;

const state = { threshold: 0.5, faceModel: false };

function apiKey() {
  return sessionStorage.getItem(KEY);
}

function needKey() {
  $("key-section").hidden = false;
  $("api-key").focus();
}

/** GET a JSON resource of the API, with the key when there is one. */
async function getJSON(path) {
  const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) {
    needKey();
    throw new Error("an API key is needed");
  }
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

async function errorText(response) {
  try {
    const { error } = await response.json();
    return `${error.code}: ${error.message}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function row(table, label, value, field) {
  const tr = table.insertRow();
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = label;
  tr.append(th);
  const td = tr.insertCell();
  td.textContent = value ?? "-";
  if (field) td.dataset.field = field;
}

function fmt(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : x;
}

// ---- the model ----

async function showModel() {
  let info;
  try {
    info = await getJSON("/v1/model");
  } catch (error) {
    $("model-line").textContent = `The model could not be read (${error.message}).`;
    return;
  }
  const { card, providers } = info;
  state.threshold = card.calibration.threshold;
  state.faceModel = card.crop.kind === "face";
  $("model-line").textContent = `${card.name} ${card.version} on ${providers.join(", ")}`;
  const dl = $("model");
  dl.replaceChildren();
  const entry = (term, value) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  };
  entry("name", `${card.name} ${card.version}`);
  entry("made", card.created);
  entry("input", `${card.input.width} x ${card.input.height} ${card.input.color}, ${card.input.dtype}`);
  entry("looks at", card.crop.kind === "face" ? `faces (${card.crop.detector}), ${card.crop.combine ?? ""}` : "the whole frame");
  entry("calibration", `temperature ${fmt(card.calibration.temperature, 2)}, threshold ${fmt(card.calibration.threshold, 4)}`);
  entry("runs on", providers.join(", "));
  const provenance = card.provenance ?? {};
  if (provenance.student) entry("student", `${provenance.student.name}, ${provenance.student.params} parameters`);
  if (provenance.teachers) entry("distilled from", provenance.teachers.map((t) => t.name ?? t).join(", "));
  for (const [model, figures] of Object.entries(provenance.evaluation ?? {})) {
    const shown = ["auc", "accuracy", "ece"].filter((k) => k in figures).map((k) => `${k} ${fmt(figures[k])}`);
    entry(`test figures, ${model}`, shown.join(", "));
  }
}

// ---- upload ----

function options() {
  const params = new URLSearchParams({ max_frames: $("max-frames").value || "600" });
  const mode = $("mode").value;
  if (mode === "keyframes") params.set("keyframes", "true");
  else params.set(mode, $("mode-value").value);
  return params;
}

function screen(file) {
  const status = $("status");
  const progress = $("upload-progress");
  const xhr = new XMLHttpRequest();
  xhr.open("POST", `/v1/screen?${options()}`);
  xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
  if (apiKey()) xhr.setRequestHeader("X-API-Key", apiKey());
  xhr.responseType = "json";
  const started = performance.now();
  let ticker;
  xhr.upload.onprogress = (event) => {
    if (!event.lengthComputable) return;
    progress.value = event.loaded / event.total;
    status.textContent = `Uploading: ${Math.round(100 * progress.value)}%`;
  };
  xhr.upload.onload = () => {
    progress.removeAttribute("value"); // indeterminate while the service screens
    ticker = setInterval(() => {
      status.textContent = `Screening: ${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 200);
  };
  xhr.onloadend = () => {
    clearInterval(ticker);
    progress.hidden = true;
    $("screen-button").disabled = false;
    if (xhr.status === 200) {
      status.textContent = `Screened ${xhr.response.video.frames_screened} frames in ${fmt(xhr.response.timings.total_s, 2)} s.`;
      showResult(xhr.response, file);
    } else if (xhr.status === 401) {
      status.textContent = "This service needs an API key.";
      needKey();
    } else if (xhr.status === 0) {
      status.innerHTML = '<span class="error"></span>';
      status.firstChild.textContent = "The service could not be reached.";
    } else {
      const error = xhr.response?.error ?? { code: `http_${xhr.status}`, message: "" };
      status.innerHTML = '<span class="error"></span>';
      status.firstChild.textContent = `${error.code}: ${error.message}`;
      status.dataset.code = error.code;
    }
  };
  progress.hidden = false;
  progress.value = 0;
  delete status.dataset.code;
  $("screen-button").disabled = true;
  $("results").hidden = true;
  xhr.send(file);
}

// ---- the result ----

const NOT_APPLICABLE =
  "The model screens faces and found none large enough in the frames it screened, so it says nothing about this video.";

function showResult(result, file) {
  const { summary, video, timings, frames } = result;
  $("results").hidden = false;
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
  player.onseeked = () => drawFaces(frames, video);
  player.ontimeupdate = () => drawFaces(frames, video);

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

function chartOptions(el, xLabel) {
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

/** The face boxes of the screened frame nearest the video's current time. */
function drawFaces(frames, video) {
  const overlay = $("overlay");
  const player = $("video");
  overlay.width = player.clientWidth;
  overlay.height = player.clientHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  if (!state.faceModel || !frames.length) return;
  const t = player.currentTime;
  const nearest = frames.reduce((a, b) => (Math.abs(b.time_s - t) < Math.abs(a.time_s - t) ? b : a));
  faceBoxes(ctx, nearest.faces, overlay.width / video.width, overlay.height / video.height);
}

/** The most suspicious frames, cut by the browser from a video element of its own. */
async function cutThumbnails(frames, file, video) {
  const box = $("thumbs");
  box.replaceChildren();
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
      const ctx = canvas.getContext("2d");
      ctx.drawImage(cutter, 0, 0, canvas.width, canvas.height);
      faceBoxes(ctx, frame.faces, canvas.width / video.width, canvas.height / video.height);
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
    }
  } catch (error) {
    box.textContent = `No thumbnails: ${error.message}.`;
  } finally {
    URL.revokeObjectURL(cutter.src);
  }
}

// ---- live from the camera ----

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

async function startLive() {
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
    socket.send(JSON.stringify({ type: "config", kind: "images", client_id: "review-page" }));
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

function stopLive() {
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

// ---- wiring ----

function wire() {
  const file = $("file");
  const drop = $("drop");
  drop.ondragover = (event) => { event.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) file.files = event.dataTransfer.files;
  };
  $("mode").onchange = () => { $("mode-value").disabled = $("mode").value === "keyframes"; };
  $("upload-form").onsubmit = (event) => {
    event.preventDefault();
    if (file.files[0]) screen(file.files[0]);
  };
  $("key-form").onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value);
    $("key-section").hidden = true;
    showModel();
  };
  $("live-start").onclick = startLive;
  $("live-stop").onclick = stopLive;
}

wire();
showModel();
