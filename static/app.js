// The demo page: fitting profiles, a try-on with live progress, the result with a before/after
// slider, the archive, the extension link and "Delete all my data". Plain ES modules, no build.

import { ApiError, api, ensureToken, storedToken } from "./api.js";
import { setupCamera } from "./camera.js";
import { setupCompare } from "./compare.js";
import { $, busy, confirmAction, formatTime, fromNow, h, toast } from "./dom.js";
import { ExtensionLink } from "./extension-link.js";
import { watchSession } from "./watch.js";

const PROFILE_KEY = "tryon.profileId";
const RUNNING_KEY = "tryon.runningSession";
const ARCHIVE_PAGE = 8;
const CATEGORY_NAMES = { upper: "Top", lower: "Bottom", dress: "Dress" };
const STAGE_NAMES = {
  pose: "Finding your pose",
  parsing: "Mapping your body",
  warp: "Fitting the garment",
  diffusion: "Painting the details",
  blend: "Blending it in",
  done: "Done",
};

const state = {
  profiles: [],
  selectedProfileId: localStorage.getItem(PROFILE_KEY),
  running: null, // {id, abort: AbortController} of the try-on being watched
  shown: null, // the session on the stage (completed)
  archive: { cursors: [null], page: 0, next: null, items: [] },
  garmentPreviewUrl: null,
  photoPreviewUrl: null,
};

const compare = setupCompare();
const extension = new ExtensionLink(renderExtension);

// ---------------------------------------------------------------- errors and next steps

/** What the user can do about an error, by the server's error code. */
function nextStep(code, status) {
  switch (code) {
    case "no_person":
    case "person_incomplete":
    case "too_small":
      return "Use a photo where you face the camera and your shoulders to knees are visible, on a plain background: add it under step 1, “You”.";
    case "garment_unreadable":
    case "unsupported_image":
    case "unsupported_format":
    case "undecodable_image":
    case "unreadable_image":
    case "empty_file":
      return "Use a JPEG, PNG or WebP image.";
    case "upload_too_large":
    case "payload_too_large":
    case "garment_too_large":
    case "too_many_pixels":
      return "Use a smaller image (under 10 MB), or a screenshot of it.";
    case "bad_garment_url":
    case "garment_url_not_public":
    case "garment_host_unknown":
    case "garment_download_failed":
    case "garment_download_timeout":
      return "Check that the link opens the picture itself, or save the picture and choose it under “From a file”.";
    case "out_of_memory":
      return "Choose a smaller result size under Options and try again.";
    case "queue_full":
    case "not_ready":
    case "too_many_requests":
      return "Wait a minute, then press Try it on again.";
    case "profile_not_found":
      return "That photo was deleted: pick or add another under step 1, “You”.";
    case "network":
      return "Start the server again (python run.py) and reload this page.";
    default:
      return status >= 500 || !status ? "Press Try it on again; if it keeps failing, try another photo." : "Check your photo and garment, then press Try it on again.";
  }
}

function errorText(err) {
  return err instanceof ApiError ? err.message : "Something went wrong in the page. Reload it and try again.";
}

// ---------------------------------------------------------------- profiles

function selectedProfile() {
  return state.profiles.find((p) => p.profile_id === state.selectedProfileId) || null;
}

function selectProfile(id, { announce = true } = {}) {
  const changed = id !== state.selectedProfileId;
  state.selectedProfileId = id;
  if (id) localStorage.setItem(PROFILE_KEY, id);
  else localStorage.removeItem(PROFILE_KEY);
  renderProfiles();
  if (changed && announce && extension.state === "paired") pairExtension({ quiet: true });
}

async function loadProfiles() {
  const { items } = await api.listProfiles();
  state.profiles = items;
  if (!selectedProfile()) selectProfile(items[0]?.profile_id || null);
  else renderProfiles();
}

// A size with the neighbour its range reaches ("M or L"), or the chart's sentence when the body is
// outside it; the girths as ranges, never as false precision.
function sizeText(entry) {
  if (!entry) return null;
  if (!entry.size) return entry.message ? "outside the size chart" : null;
  return entry.also ? `${entry.size} or ${entry.also}` : entry.size;
}

function sizeLine(measurements) {
  const sizes = measurements?.sizes || {};
  const top = sizeText(sizes.top);
  if (!top) return null;
  const parts = [];
  if (sizes.bottom) parts.push(`bottom ${sizeText(sizes.bottom)}`);
  for (const name of ["chest", "waist", "hip"]) {
    const m = measurements.measurements?.[name];
    if (m?.low_cm != null) parts.push(`${name} ${Math.round(m.low_cm)}–${Math.round(m.high_cm)} cm`);
  }
  const notes = [sizes.top?.message, sizes.bottom?.message, ...(measurements.notes || [])].filter(Boolean);
  return h("span", { class: "profile-size", title: notes.join("\n") || null },
    `Your size: ${top}`, parts.length ? h("span", { class: "muted" }, ` (${parts.join(", ")})`) : null);
}

function renderProfiles() {
  const list = $("profile-list");
  list.replaceChildren(...state.profiles.map((profile) => {
    const selected = profile.profile_id === state.selectedProfileId;
    const name = profile.name || "My photo";
    const error = h("p", { class: "profile-error", role: "alert" });
    const estimate = profile.height_cm
      ? h("button", {
          type: "button", class: "button small ghost",
          onclick: (event) => estimateSize(profile, event.currentTarget, error),
        }, profile.measurements ? "Estimate again" : "Estimate my size")
      : null;
    return h("li", { class: "profile", dataset: { selected: String(selected), profileId: profile.profile_id } },
      h("button", {
        type: "button", class: "profile-pick", "aria-pressed": String(selected),
        onclick: () => selectProfile(profile.profile_id),
      },
        h("img", { src: profile.photo_url, alt: "", loading: "lazy" }), // the name below labels the button
        h("span", { class: "profile-meta" },
          h("span", { class: "profile-name" }, name),
          selected ? h("span", { class: "profile-chosen" }, "✓ Selected") : h("span", { class: "muted" }, "Use this photo"),
          sizeLine(profile.measurements))),
      h("div", { class: "profile-actions" },
        estimate,
        h("button", {
          type: "button", class: "button small ghost danger-text", "aria-label": `Delete the photo ${name}`,
          onclick: () => deleteProfile(profile),
        }, "Delete")),
      error);
  }));
  // with photos saved, adding another is a fold-out; with none, the form is the first thing seen
  const details = $("add-profile");
  const hasProfiles = state.profiles.length > 0;
  details.classList.toggle("collapsible", hasProfiles);
  $("add-profile-summary").textContent = "Add another photo of yourself";
  if (!hasProfiles) details.open = true;
}

async function estimateSize(profile, button, errorEl) {
  errorEl.textContent = "";
  try {
    await busy(button, () => api.estimateBody(profile.profile_id, profile.height_cm));
    await loadProfiles();
    toast("Size estimated from your photo.");
  } catch (err) {
    errorEl.textContent = errorText(err);
  }
}

async function deleteProfile(profile) {
  const ok = await confirmAction({
    title: "Delete this photo?",
    text: "The photo is removed from this computer. Try-ons made with it stay in your archive.",
    ok: "Delete photo",
  });
  if (!ok) return;
  try {
    await api.deleteProfile(profile.profile_id);
    if (state.selectedProfileId === profile.profile_id) state.selectedProfileId = null;
    await loadProfiles();
    toast("Photo deleted.");
  } catch (err) {
    toast(errorText(err));
  }
}

function showChosenFile(kind, file) {
  const preview = $(`${kind}-preview`);
  const urlKey = `${kind}PreviewUrl`;
  if (state[urlKey]) URL.revokeObjectURL(state[urlKey]);
  state[urlKey] = file ? URL.createObjectURL(file) : null;
  preview.hidden = !file;
  if (file) preview.src = state[urlKey];
  else preview.removeAttribute("src");
  $(`${kind}-file-name`).textContent = file ? file.name : "";
  $(`${kind}-drop`).dataset.hasFile = String(Boolean(file));
}

function putFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

/** A drop zone: files dropped on it go into its file input (so the form holds them). */
function setupDrop(zone, input, onUrl) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) return putFile(input, file);
    // an image dragged from another tab arrives as its address
    const url = event.dataTransfer.getData("text/uri-list").split("\n").find((l) => /^https?:/i.test(l.trim()));
    if (url && onUrl) onUrl(url.trim());
    else if (event.dataTransfer.files.length) toast("That is not an image: use a JPEG, PNG or WebP file.");
  });
}

async function saveProfile(event) {
  event.preventDefault();
  const message = $("profile-message");
  message.textContent = "";
  const photo = $("photo-input").files[0];
  const height = $("profile-height").value.trim();
  if (!photo) {
    message.textContent = "Choose a photo of yourself first (or drop one on the box above).";
    return;
  }
  if (height && !(Number(height) >= 50 && Number(height) <= 250)) {
    message.textContent = "Give your height in centimetres, between 50 and 250 (or leave it empty).";
    $("profile-height").focus();
    return;
  }
  const form = new FormData();
  form.set("photo", photo);
  form.set("name", $("profile-name").value.trim() || "Me");
  if (height) form.set("height_cm", height);
  try {
    const profile = await busy($("save-profile"), () => api.createProfile(form));
    $("profile-form").reset();
    showChosenFile("photo", null);
    state.profiles = [profile, ...state.profiles.filter((p) => p.profile_id !== profile.profile_id)];
    selectProfile(profile.profile_id);
    $("add-profile").open = false;
    toast("Photo saved. Now choose a garment.");
  } catch (err) {
    message.textContent = `${errorText(err)} ${err instanceof ApiError ? nextStep(err.code, err.status) : ""}`.trim();
  }
}

// ---------------------------------------------------------------- try-on

function garmentSource() {
  return document.querySelector("input[name=garment_source]:checked").value;
}

function setGarmentSource(value) {
  document.querySelector(`input[name=garment_source][value=${value}]`).checked = true;
  $("garment-drop").hidden = value !== "file";
  $("garment-url-field").hidden = value !== "url";
}

function showView(view) {
  $("stage").dataset.view = view;
  $("stage-empty").hidden = view !== "empty";
  $("stage-progress").hidden = view !== "progress";
  $("stage-result").hidden = view !== "result";
  if (view !== "error") $("stage-error").hidden = true;
}

function showError(message, next) {
  $("error-message").textContent = message;
  $("error-next").textContent = next;
  $("stage").dataset.view = "error";
  $("stage-error").hidden = false;
  $("stage-empty").hidden = true;
  $("stage-progress").hidden = true;
  $("stage-result").hidden = !state.shown; // an earlier result stays below the message
  if (matchMedia("(max-width: 899px)").matches) $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
}

function renderProgress(session, transport) {
  const bar = $("progress");
  const percent = Math.round((session.progress || 0) * 100);
  bar.value = percent;
  bar.setAttribute("aria-valuetext", `${percent}%`);
  $("progress-percent").textContent = `${percent}%`;
  let label;
  if (session.status === "queued") {
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

async function startTryOn(event) {
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
  form.set("category", document.querySelector("input[name=category]:checked").value);
  form.set("options", JSON.stringify({ output_size: Number($("output-size").value) }));

  setTrying(true);
  showView("progress");
  // on a phone the stage sits below the form: bring the progress into view
  if (matchMedia("(max-width: 899px)").matches) $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
  renderProgress({ status: "queued", progress: 0, queue_position: 0, person_image_url: profile.photo_url }, "stream");
  $("progress-label").textContent = "Sending…";
  let accepted;
  try {
    accepted = await api.createSession(form);
  } catch (err) {
    setTrying(false);
    showError(errorText(err), err instanceof ApiError ? nextStep(err.code, err.status) : nextStep(null, 0));
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
async function follow(sessionId, initial, { resumed = false } = {}) {
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
      showError(final.error || "The try-on failed.", nextStep(final.error_code, 500));
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

async function cancelTryOn() {
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

// ---------------------------------------------------------------- result

function expiryText(session) {
  if (session.kept || !session.expires_at) return "Kept: it stays until you delete it.";
  return `Deletes itself ${fromNow(session.expires_at)} (${formatTime(session.expires_at)}) unless you keep it.`;
}

function showResult(session) {
  state.shown = session;
  compare.show(session.person_image_url, session.result_url);
  const download = $("download-result");
  download.href = session.result_url;
  download.download = `try-on-${(session.created_at || "").slice(0, 10) || "result"}-${session.session_id.slice(0, 6)}.png`;
  renderKeep(session);
  showView("result");
  markCurrentTile();
}

function renderKeep(session) {
  const keep = $("keep-result");
  keep.setAttribute("aria-pressed", String(session.kept));
  keep.textContent = session.kept ? "✓ Kept" : "Keep";
  keep.title = session.kept ? "Press to let it delete itself again" : "Keep it: it will not be deleted automatically";
  $("result-expiry").textContent = expiryText(session);
}

/** Keep or un-keep; updates the stage and the archive tile, whichever show it. */
async function toggleKeep(session, button) {
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

async function deleteSession(session) {
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

// ---------------------------------------------------------------- archive

async function loadArchivePage() {
  const a = state.archive;
  const page = await api.archive(ARCHIVE_PAGE, a.cursors[a.page]);
  if (!page.items.length && a.page > 0) {
    // the last item of this page was deleted: step back a page
    a.page -= 1;
    return loadArchivePage();
  }
  a.items = page.items;
  a.next = page.next_cursor;
  a.cursors.length = a.page + 1;
  if (a.next) a.cursors.push(a.next);
  renderArchive();
}

async function refreshArchive({ stay = false } = {}) {
  if (!stay) state.archive = { cursors: [null], page: 0, next: null, items: [] };
  try {
    await loadArchivePage();
  } catch (err) {
    $("archive-note").textContent = errorText(err);
  }
}

function renderArchive() {
  const a = state.archive;
  $("archive-grid").replaceChildren(...a.items.map((session) => {
    const when = formatTime(session.created_at);
    const open = () => {
      showResult(session);
      $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
    };
    const expiry = session.kept || !session.expires_at
      ? h("span", { class: "tile-expiry kept" }, "✓ Kept")
      : h("span", { class: "tile-expiry", title: `Deletes itself ${fromNow(session.expires_at)}` },
          `Deletes ${formatTime(session.expires_at)}`);
    return h("li", { class: "tile", dataset: { sessionId: session.session_id } },
      // the picture opens it too, for the mouse; the "Open" button is the labelled control
      h("div", { class: "tile-open", onclick: open },
        h("img", { src: session.result_url, alt: `Try-on of ${when}`, loading: "lazy" })),
      h("div", { class: "tile-meta" },
        h("span", { class: "tile-date" }, when),
        h("span", { class: "chip" }, CATEGORY_NAMES[session.category] || session.category),
        expiry),
      h("div", { class: "tile-actions" },
        h("button", { type: "button", class: "button small", "aria-label": `Open the try-on of ${when}`, onclick: open }, "Open"),
        h("button", {
          type: "button", class: "button small ghost", "aria-pressed": String(session.kept),
          "aria-label": `${session.kept ? "Unkeep" : "Keep"} the try-on of ${when}`,
          onclick: (event) => toggleKeep(session, event.currentTarget),
        }, session.kept ? "Unkeep" : "Keep"),
        h("button", {
          type: "button", class: "button small ghost danger-text", "aria-label": `Delete the try-on of ${when}`,
          onclick: () => deleteSession(session),
        }, "Delete")));
  }));
  $("archive-empty").hidden = a.items.length > 0;
  const paged = a.page > 0 || Boolean(a.next);
  $("archive-pager").hidden = !paged;
  $("archive-newer").disabled = a.page === 0;
  $("archive-older").disabled = !a.next;
  $("archive-page").textContent = `Page ${a.page + 1}`;
  markCurrentTile();
}

function markCurrentTile() {
  for (const tile of document.querySelectorAll(".tile")) {
    tile.dataset.current = String(tile.dataset.sessionId === state.shown?.session_id);
  }
}

async function turnArchivePage(delta) {
  state.archive.page = Math.max(0, state.archive.page + delta);
  await refreshArchive({ stay: true });
  $("archive-section").scrollIntoView({ behavior: "smooth", block: "start" });
}

// ---------------------------------------------------------------- extension

function renderExtension(link) {
  const panel = $("extension-panel");
  const status = $("extension-status");
  const button = $("connect-extension");
  panel.dataset.state = link.state;
  const texts = {
    unknown: "Looking for the browser extension…",
    missing: "Browser extension not installed",
    installed: "Browser extension installed, not connected",
    paired: "Browser extension connected",
  };
  status.textContent = texts[link.state] || link.state;
  status.title = link.detail || (link.state === "missing"
    ? "Load static/extension as an unpacked extension in chrome://extensions, then reload this page."
    : "");
  button.hidden = link.state !== "installed";
  if (link.detail && link.state === "installed") toast(link.detail);
}

async function pairExtension({ quiet = false } = {}) {
  const button = $("connect-extension");
  try {
    const token = await ensureToken();
    await busy(button, () => extension.pair(token, state.selectedProfileId));
    if (!quiet) toast("The extension is connected: try on garments right from shop pages.");
  } catch (err) {
    toast(err.message);
  }
}

// ---------------------------------------------------------------- delete everything, health

async function deleteEverything() {
  const ok = await confirmAction({
    title: "Delete all your data?",
    text: "Every photo, profile and try-on of yours is deleted from this computer now, and this browser forgets its key. This cannot be undone.",
    ok: "Delete everything",
  });
  if (!ok) return;
  try {
    await busy($("delete-all"), async () => {
      state.running?.abort.abort();
      await api.deleteEverything();
    });
    state.profiles = [];
    state.shown = null;
    localStorage.removeItem(RUNNING_KEY);
    selectProfile(null, { announce: false });
    state.archive = { cursors: [null], page: 0, next: null, items: [] };
    renderArchive();
    showView("empty");
    extension.tokenChanged(null);
    toast("All your data was deleted.");
  } catch (err) {
    toast(`${errorText(err)} Nothing was deleted; try again.`);
  }
}

async function checkHealth() {
  const el = $("server-status");
  try {
    const health = await api.health();
    if (health.ok) {
      el.textContent = `Server ready · ${health.engine} engine on ${health.device}`;
      // model weights with terms of use (CatVTON: non-commercial) say so wherever they run
      $("engine-licence").textContent = health.licence || "";
      $("engine-licence").hidden = !health.licence;
      return;
    }
    el.textContent = health.detail || "The server is starting…";
  } catch {
    el.textContent = "The try-on server cannot be reached.";
  }
  setTimeout(checkHealth, 3000);
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("profile-form").addEventListener("submit", saveProfile);
  $("photo-input").addEventListener("change", () => showChosenFile("photo", $("photo-input").files[0] || null));
  $("garment-input").addEventListener("change", () => showChosenFile("garment", $("garment-input").files[0] || null));
  setupDrop($("photo-drop"), $("photo-input"));
  setupDrop($("garment-drop"), $("garment-input"), (url) => {
    setGarmentSource("url");
    $("garment-url").value = url;
  });
  for (const radio of document.querySelectorAll("input[name=garment_source]")) {
    radio.addEventListener("change", () => setGarmentSource(garmentSource()));
  }
  $("tryon-form").addEventListener("submit", startTryOn);
  $("cancel-tryon").addEventListener("click", cancelTryOn);
  $("error-dismiss").addEventListener("click", () => showView(state.shown ? "result" : "empty"));
  $("keep-result").addEventListener("click", (event) => state.shown && toggleKeep(state.shown, event.currentTarget));
  $("delete-result").addEventListener("click", () => state.shown && deleteSession(state.shown));
  $("archive-newer").addEventListener("click", () => turnArchivePage(-1));
  $("archive-older").addEventListener("click", () => turnArchivePage(1));
  $("connect-extension").addEventListener("click", () => pairExtension());
  $("delete-all").addEventListener("click", deleteEverything);
  // the server forgot our token (its data was reset): start over with the fresh one
  window.addEventListener("tryon:token-reset", () => {
    state.selectedProfileId = null;
    localStorage.removeItem(RUNNING_KEY);
    extension.tokenChanged(null);
    setTimeout(() => {
      loadProfiles().catch(() => {});
      refreshArchive();
    }, 0);
  });
  // signed image links last an hour: a page left open longer fetches fresh ones
  let loadedAt = Date.now();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && Date.now() - loadedAt > 30 * 60 * 1000 && storedToken()) {
      loadedAt = Date.now();
      loadProfiles().catch(() => {});
      refreshArchive({ stay: true });
    }
  });
  setupCamera((file) => putFile($("photo-input"), file));
}

async function start() {
  wire();
  setGarmentSource(garmentSource());
  renderExtension(extension);
  checkHealth();
  try {
    const token = await ensureToken();
    extension.probe(token);
    await Promise.all([loadProfiles(), refreshArchive()]);
    const unfinished = localStorage.getItem(RUNNING_KEY);
    if (unfinished) follow(unfinished, null, { resumed: true }); // the page was reloaded mid-run
  } catch (err) {
    extension.probe(storedToken());
    showError(errorText(err), nextStep(err.code, err.status));
  }
  document.body.dataset.ready = "true";
}

start();
