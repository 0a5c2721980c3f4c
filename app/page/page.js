// The review page: upload a video or stream the camera, and see what the model says.
// Plain ES modules, no build step; the chart is uPlot (vendored, a global).

import { $, useKey } from "./common.js";
import { scoreImages, screenOnDevice } from "./device.js";
import { startLive, stopLive } from "./live.js";
import { showModel } from "./model.js";
import { redrawOverlays } from "./results.js";
import { screen } from "./upload.js";

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
    if (!file.files[0]) return;
    if ($("where-device").checked) screenOnDevice(file.files[0]);
    else screen(file.files[0]);
  };
  $("key-form").onsubmit = (event) => {
    event.preventDefault();
    useKey($("api-key").value);
    $("key-section").hidden = true;
    showModel();
  };
  $("heatmap").onchange = redrawOverlays; // shown or hidden at once; asked for at the next screening
  $("live-start").onclick = startLive;
  $("live-stop").onclick = stopLive;
}

wire();
showModel();
// for scripts and tests: score still images on this device, as the camera mode's server would
window.distilscreen = { scoreImages };
