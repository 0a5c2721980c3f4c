// Screening on this device: the browser decodes, ONNX Runtime Web (WebGPU where the browser
// has it, else WebAssembly) runs the
// served model, read from GET /v1/model/onnx; nothing is uploaded.

import { $, apiKey, errorText, fmt, needKey, state } from "./common.js";
import { heatmapsOn, tensorMaps } from "./heatmap.js";
import { showResult } from "./results.js";
import { screen } from "./upload.js";

const ORT = "/page/ort/";

/** The served model in ONNX Runtime Web: WebGPU where the browser has it, else WebAssembly
(threads when the page is isolated). */
async function deviceSession() {
  if (state.session) return state.session;
  let ort;
  try {
    ort = await import(`${ORT}ort.min.mjs`); // the WebGPU + WebAssembly build
  } catch {
    throw new Error("ONNX Runtime Web is not installed on this service (make serve installs it)");
  }
  ort.env.wasm.wasmPaths = ORT;
  // threads need an isolated page; on two cores or fewer they only compete with the video's decoding
  const cores = navigator.hardwareConcurrency || 1;
  ort.env.wasm.numThreads = self.crossOriginIsolated && cores > 2 ? Math.min(4, cores) : 1;
  const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
  const response = await fetch("/v1/model/onnx", { headers });
  if (response.status === 401) {
    needKey();
    throw new Error("an API key is needed");
  }
  if (!response.ok) throw new Error(await errorText(response));
  const providers = navigator.gpu ? ["webgpu", "wasm"] : ["wasm"];
  const bytes = await response.arrayBuffer();
  let session, backend;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: providers });
    backend = navigator.gpu ? "WebGPU (or WebAssembly where an operator needs it)" : "";
  } catch { // a browser that lists WebGPU without an adapter
    session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  }
  const threads = ort.env.wasm.numThreads;
  backend ||= `WebAssembly, ${threads} thread${threads > 1 ? "s" : ""}`;
  state.session = { ort, session, backend };
  return state.session;
}

/** The card's input tensor for frames drawn at its size (RGBA pixels, one frame after another). */
function inputTensor(ort, rgba, count) {
  const { width, height, color, dtype, layout, scale, mean, std } = state.card.input;
  const order = color === "RGB" ? [0, 1, 2] : [2, 1, 0];
  const plane = width * height;
  const data = dtype === "uint8" ? new Uint8Array(count * plane * 3) : new Float32Array(count * plane * 3);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        const value = rgba[(n * plane + i) * 4 + order[c]];
        const at = layout === "NHWC" ? (n * plane + i) * 3 + c : (n * 3 + c) * plane + i;
        data[at] = dtype === "uint8" ? value : (value * scale - mean[c]) / std[c];
      }
    }
  }
  const shape = layout === "NHWC" ? [count, height, width, 3] : [count, 3, height, width];
  return new ort.Tensor(dtype, data, shape);
}

/** p_synthetic of frames drawn at the card's size: softmax(logits / T)[synthetic]; and,
when heatmaps are on, each frame's attention map (the graph's extra output, fetched only then). */
async function deviceScores(rgba, count) {
  const { ort, session } = await deviceSession();
  const card = state.card;
  const fetches = [card.output.logits, ...(heatmapsOn() ? [card.output.extra.attention] : [])];
  const output = await session.run({ [card.input.name]: inputTensor(ort, rgba, count) }, fetches);
  const logits = output[card.output.logits].data;
  const synthetic = card.output.classes.indexOf("synthetic");
  const scores = [];
  for (let n = 0; n < count; n++) {
    const a = logits[2 * n] / card.calibration.temperature;
    const b = logits[2 * n + 1] / card.calibration.temperature;
    const top = Math.max(a, b);
    const ea = Math.exp(a - top), eb = Math.exp(b - top);
    scores.push((synthetic === 1 ? eb : ea) / (ea + eb));
  }
  return { scores, maps: fetches.length > 1 ? tensorMaps(output[fetches[1]]) : null };
}

/** Images (blobs) at any size, drawn at the card's input size and scored on this device. */
export async function scoreImages(blobs) {
  const { width, height } = state.card.input;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const rgba = new Uint8ClampedArray(blobs.length * width * height * 4);
  for (const [n, blob] of blobs.entries()) {
    const bitmap = await createImageBitmap(blob);
    ctx.drawImage(bitmap, 0, 0, width, height);
    rgba.set(ctx.getImageData(0, 0, width, height).data, n * width * height * 4);
  }
  return (await deviceScores(rgba, blobs.length)).scores;
}

/** The times a device-mode screening samples: `fps` a second, or N spread evenly. */
function sampleTimes(duration) {
  const value = Number($("mode-value").value);
  const most = Number($("max-frames").value || 600);
  const mode = $("mode").value;
  if (!(value > 0) || (mode !== "fps" && mode !== "frames")) {
    throw new Error("on this device, sample with fps or N frames (a browser cannot count frames)");
  }
  const times = mode === "fps"
    ? Array.from({ length: Math.ceil(duration * value) }, (_, k) => k / value)
    : Array.from({ length: Math.round(value) }, (_, k) => (duration * k) / Math.round(value));
  return times.filter((t) => t < duration).slice(0, most);
}

export async function screenOnDevice(file) {
  const status = $("status");
  delete status.dataset.code;
  $("results").hidden = true;
  if (state.faceModel) {
    status.textContent = "This face model needs the service's face detector: screening on the service instead.";
    return screen(file);
  }
  const started = performance.now();
  try {
    status.textContent = "Loading the model into this page...";
    await deviceSession();
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    video.src = URL.createObjectURL(file);
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error("this browser cannot decode this video"));
    });
    const times = sampleTimes(video.duration);
    const { width, height } = state.card.input;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const frames = [];
    let decode = 0, inference = 0;
    for (const [k, t] of times.entries()) {
      const t0 = performance.now();
      await new Promise((resolve) => { video.onseeked = resolve; video.currentTime = t; });
      ctx.drawImage(video, 0, 0, width, height);
      const pixels = ctx.getImageData(0, 0, width, height).data;
      const t1 = performance.now();
      const { scores, maps } = await deviceScores(pixels, 1);
      inference += performance.now() - t1;
      decode += t1 - t0;
      frames.push({ index: k, time_s: video.currentTime, p_synthetic: scores[0], heatmap: maps?.[0] ?? null });
      status.textContent = `Screening on this device: ${k + 1} of ${times.length} frames`;
    }
    URL.revokeObjectURL(video.src);
    const total = (performance.now() - started) / 1000;
    const result = deviceResult(frames, video, { decode, inference, total });
    status.textContent = `Screened ${frames.length} frames on this device in ${fmt(total, 2)} s.`;
    showResult(result, file, `Screened on this device: ONNX Runtime Web (${state.session.backend}); nothing was uploaded.`);
  } catch (error) {
    status.innerHTML = '<span class="error"></span>';
    status.firstChild.textContent = error.message;
  }
}

/** A device-mode screening in the shape of the API's answer (the same summary rule). */
function deviceResult(frames, video, ms) {
  const ps = frames.map((f) => f.p_synthetic);
  const mean = ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : null;
  const threshold = state.threshold;
  return {
    frames,
    summary: {
      mean_p_synthetic: mean,
      max_p_synthetic: ps.length ? Math.max(...ps) : null,
      fraction_above_threshold: ps.length ? ps.filter((p) => p >= threshold).length / ps.length : null,
      threshold,
      verdict: mean == null ? null : mean >= threshold ? "synthetic" : "authentic",
    },
    video: {
      width: video.videoWidth, height: video.videoHeight, codec: "decoded by the browser", container: "-",
      duration_s: video.duration, frames_screened: frames.length, frames_decoded: frames.length,
    },
    timings: {
      upload_s: 0, decode_s: ms.decode / 1000, queue_s: 0, inference_s: ms.inference / 1000,
      total_s: ms.total, frames_per_s: frames.length / ms.total,
    },
  };
}
