// What every part of the page shares: the DOM, the API key, the API's JSON and errors.

export const $ = (id) => document.getElementById(id);
const KEY = "distilscreen.key"; // sessionStorage: kept for this tab only

/** What the page knows of the model (from its card), and its session on this device. */
export const state = { threshold: 0.5, faceModel: false, heatmaps: false, card: null, session: null };

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function needKey() {
  $("key-section").hidden = false;
  $("api-key").focus();
}

/** GET a JSON resource of the API, with the key when there is one. */
export async function getJSON(path) {
  const headers = apiKey() ? { "X-API-Key": apiKey() } : {};
  const response = await fetch(path, { headers });
  if (response.status === 401) {
    needKey();
    throw new Error("an API key is needed");
  }
  if (!response.ok) throw new Error(await errorText(response));
  return response.json();
}

export async function errorText(response) {
  try {
    const { error } = await response.json();
    return `${error.code}: ${error.message}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

export function row(table, label, value, field) {
  const tr = table.insertRow();
  const th = document.createElement("th");
  th.scope = "row";
  th.textContent = label;
  tr.append(th);
  const td = tr.insertCell();
  td.textContent = value ?? "-";
  if (field) td.dataset.field = field;
}

export function fmt(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : x;
}

export function useKey(key) {
  sessionStorage.setItem(KEY, key);
}
