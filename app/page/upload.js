// Screening on the service: the upload, with its progress, to POST /v1/screen.

import { $, apiKey, fmt, needKey } from "./common.js";
import { heatmapsOn } from "./heatmap.js";
import { showResult } from "./results.js";

function options() {
  const params = new URLSearchParams({ max_frames: $("max-frames").value || "600" });
  const mode = $("mode").value;
  if (mode === "keyframes") params.set("keyframes", "true");
  else params.set(mode, $("mode-value").value);
  if (heatmapsOn()) params.set("heatmap", "true");
  return params;
}

export function screen(file) {
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
      showResult(xhr.response, file, `Screened on the service (${$("model-line").textContent}).`);
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
