// Step 2 and the stage: a try-on from the form to its result, with live progress; the result's
// before/after, keep and delete.

import { ApiError, api } from "./api.js";
import { refreshArchive, markCurrentTile, renderArchive } from "./archive.js";
import { setupCompare } from "./compare.js";
import { $, busy, confirmAction, formatTime, fromNow, toast } from "./dom.js";
import { errorText, nextStep } from "./errors.js";
import { selectedProfile } from "./profiles.js";
import { RUNNING_KEY, state } from "./state.js";
import { watchSession } from "./watch.js";

const STAGE_NAMES = {
  pose: "Finding your pose",
  parsing: "Mapping your body",
  warp: "Fitting the garment",
  diffusion: "Painting the details",
  blend: "Blending it in",
  done: "Done",
};

const compare = setupCompare();

/** The chosen radio button of a group. @param {string} name @returns {HTMLInputElement} */
function checkedInput(name) {
  return document.querySelector(`input[name=${name}]:checked`);
}

export function garmentSource() {
  return checkedInput("garment_source").value;
}

export function setGarmentSource(value) {
  /** @type {HTMLInputElement} */ (document.querySelector(`input[name=garment_source][value=${value}]`)).checked = true;
  $("garment-drop").hidden = value !== "file";
  $("garment-url-field").hidden = value !== "url";
}

export function showView(view) {
  $("stage").dataset.view = view;
  $("stage-empty").hidden = view !== "empty";
  $("stage-progress").hidden = view !== "progress";
  $("stage-result").hidden = view !== "result";
  if (view !== "error") $("stage-error").hidden = true;
}

/** Forgets the result on the stage: a new try-on (or its error) must not sit over an earlier one,
 * perhaps of another person. It stays in the archive. */
function clearShownResult() {
  state.shown = null;
  markCurrentTile();
}

/**
 * Scrolls the stage's top into view unless it is there already: on a phone the stage lies below
 * the form; on a desktop it is sticky but ends with its column, so after a long form its top (and
 * an error at it) can sit above the window. CSS's scroll-margin-top keeps it clear of the top bar.
 */
function bringStageIntoView() {
  const stage = $("stage");
  const top = stage.getBoundingClientRect().top;
  const margin = parseFloat(getComputedStyle(stage).scrollMarginTop) || 0;
  if (top >= margin - 1 && top <= window.innerHeight * 0.5) return; // already where the eye is
  const smooth = !matchMedia("(prefers-reduced-motion: reduce)").matches;
  stage.scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "start" });
}

export function showError(message, next) {
  clearShownResult();
  $("error-message").textContent = message;
  $("error-next").textContent = next;
  $("stage").dataset.view = "error";
  $("stage-error").hidden = false;
  $("stage-empty").hidden = true;
  $("stage-progress").hidden = true;
  $("stage-result").hidden = true;
  bringStageIntoView();
}

function renderProgress(session, transport) {
  const bar = $("progress");
  const percent = Math.round((session.progress || 0) * 100);
  bar.value = percent;
  bar.setAttribute("aria-valuetext", `${percent}%`);
  $("progress-percent").textContent = `${percent}%`;
  let label;
  if (session.status === "queued" && session.retry_in_s) {
    label = `Waiting for the provider, retrying in ${session.retry_in_s} s`;
  } else if (session.status === "queued") {
    label = session.queue_position > 1 ? `Waiting in line: number ${session.queue_position}` : "Next in line…";
  } else if (session.status === "processing") {
    label = `${STAGE_NAMES[session.stage] || "Working"}…`;
  } else {
    label = session.status === "completed" ? "Done" : "Stopped";
  }
  $("progress-label").textContent = label;
  const via = transport === "polling" ? "Live updates dropped: checking every 2 seconds." : "";
  const where = session.status === "queued" && session.queue_position > 1
    ? `${session.queue_position - 1} try-on${session.queue_position > 2 ? "s" : ""} ahead of you. `
    : session.stage && session.status === "processing" ? `Step: ${session.stage}. ` : "";
  $("progress-detail").textContent = `${where}${via}`.trim();
  for (const [id, url] of [["progress-person", session.person_image_url], ["progress-garment", session.garment_image_url]]) {
    const img = $(id);
    if (url && img.getAttribute("src") !== url) img.src = url;
    img.hidden = !url;
  }
}

export async function startTryOn(event) {
  event.preventDefault();
  const message = $("tryon-message");
  message.textContent = "";
  const profile = selectedProfile();
  if (!profile) {
    message.textContent = $("photo-input").files.length
      ? "Save your photo first (“Save this photo” in step 1), then press Try it on."
      : "Add a photo of yourself first (step 1), then press Try it on.";
    $("photo-input").focus();
    return;
  }
  const form = new FormData();
  form.set("profile_id", profile.profile_id);
  if (garmentSource() === "file") {
    const garment = $("garment-input").files[0];
    if (!garment) {
      message.textContent = "Choose a picture of the garment, or switch to “From a link”.";
      return;
    }
    form.set("garment", garment);
  } else {
    const url = $("garment-url").value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      message.textContent = "Paste the address of the garment's picture: it starts with https://";
      $("garment-url").focus();
      return;
    }
    form.set("garment_url", url);
  }
  const category = checkedInput("category").value;
  form.set("category", category);
  form.set("options", JSON.stringify({ output_size: Number($("output-size").value) }));

  setTrying(true);
  clearShownResult();
  showView("progress");
  bringStageIntoView();
  renderProgress({ status: "queued", progress: 0, queue_position: 0, person_image_url: profile.photo_url }, "stream");
  $("progress-label").textContent = "Sending…";
  let accepted;
  try {
    accepted = await api.createSession(form);
  } catch (err) {
    setTrying(false);
    showError(errorText(err), err instanceof ApiError ? nextStep(err.code, err.status, category) : nextStep(null, 0));
    return;
  }
  await follow(accepted.session_id, { ...accepted, progress: 0, person_image_url: profile.photo_url });
}

function setTrying(on) {
  const button = $("tryon-button");
  button.disabled = on;
  button.textContent = on ? "Trying it on…" : "Try it on";
}

/**
 * Shows a session's progress until it ends, then its result or its error. The id is remembered
 * until then, so a reload of the page mid-run picks the same try-on up again.
 */
export async function follow(sessionId, initial, { resumed = false } = {}) {
  const abort = new AbortController();
  state.running = { id: sessionId, abort };
  localStorage.setItem(RUNNING_KEY, sessionId);
  setTrying(true);
  showView("progress");
  if (initial) renderProgress(initial, "stream");
  try {
    let transport = "stream";
    const final = await watchSession(sessionId, {
      signal: abort.signal,
      onTransport: (t) => { transport = t; },
      onUpdate: (session) => renderProgress(session, transport),
    });
    if (final === null) {
      showView(state.shown ? "result" : "empty");
      if (!resumed) toast("That try-on was deleted.");
    } else if (final.status === "completed") {
      showResult(final);
      refreshArchive();
    } else {
      showError(final.error || "The try-on failed.", nextStep(final.error_code, 500, final.category));
    }
  } catch (err) {
    if (err.name === "AbortError") showView(state.shown ? "result" : "empty");
    else showError(errorText(err), err instanceof ApiError ? nextStep(err.code, err.status) : nextStep(null, 0));
  } finally {
    state.running = null;
    localStorage.removeItem(RUNNING_KEY);
    setTrying(false);
  }
}

export async function cancelTryOn() {
  const running = state.running;
  if (!running) return;
  running.abort.abort();
  try {
    await api.deleteSession(running.id);
    toast("Try-on cancelled.");
  } catch (err) {
    toast(errorText(err));
  }
}

function expiryText(session) {
  if (session.kept || !session.expires_at) return "Kept: it stays until you delete it.";
  return `Deletes itself ${fromNow(session.expires_at)} (${formatTime(session.expires_at)}) unless you keep it.`;
}

export function showResult(session) {
  state.shown = session;
  compare.show(session.person_image_url, session.result_url);
  const download = $("download-result");
  download.href = session.result_url;
  download.download = `try-on-${(session.created_at || "").slice(0, 10) || "result"}-${session.session_id.slice(0, 6)}.png`;
  renderKeep(session);
  showView("result");
  markCurrentTile();
  bringStageIntoView();
}

function renderKeep(session) {
  const keep = $("keep-result");
  keep.setAttribute("aria-pressed", String(session.kept));
  keep.textContent = session.kept ? "✓ Kept" : "Keep";
  keep.title = session.kept ? "Press to let it delete itself again" : "Keep it: it will not be deleted automatically";
  $("result-expiry").textContent = expiryText(session);
}

/** Keep or un-keep; updates the stage and the archive tile, whichever show it. */
export async function toggleKeep(session, button) {
  try {
    const updated = await busy(button, () => api.keepSession(session.session_id, !session.kept));
    if (state.shown?.session_id === updated.session_id) {
      state.shown = { ...state.shown, ...updated };
      renderKeep(state.shown);
    }
    const i = state.archive.items.findIndex((s) => s.session_id === updated.session_id);
    if (i >= 0) {
      state.archive.items[i] = updated;
      renderArchive();
    }
    toast(updated.kept ? "Kept: it will not be deleted automatically." : "It will delete itself in time again.");
  } catch (err) {
    toast(errorText(err));
  }
}

export async function deleteSession(session) {
  const ok = await confirmAction({
    title: "Delete this try-on?",
    text: "The result and its copies of your photo and the garment are removed from this computer.",
    ok: "Delete try-on",
  });
  if (!ok) return;
  try {
    await api.deleteSession(session.session_id);
    if (state.shown?.session_id === session.session_id) {
      state.shown = null;
      showView("empty");
    }
    toast("Try-on deleted.");
    await refreshArchive({ stay: true });
  } catch (err) {
    toast(errorText(err));
  }
}
