// The model's card, shown readably.

import { $, fmt, getJSON, state } from "./common.js";

export async function showModel() {
  let info;
  try {
    info = await getJSON("/v1/model");
  } catch (error) {
    $("model-line").textContent = `The model could not be read (${error.message}).`;
    return;
  }
  const { card, providers } = info;
  state.card = card;
  state.threshold = card.calibration.threshold;
  state.faceModel = card.crop.kind === "face";
  state.heatmaps = Boolean(card.output.extra?.attention);
  $("heatmap").disabled = !state.heatmaps;
  $("heatmap-help").textContent = state.heatmaps
    ? `its attention map, shaded over each screened ${state.faceModel ? "face" : "frame"}`
    : "this model has no attention output to show";
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
  entry("heatmaps", state.heatmaps ? `yes: output ${card.output.extra.attention}` : "no attention output");
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
