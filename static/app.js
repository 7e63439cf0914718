// The demo page: fitting profiles (profiles.js), a try-on with live progress and its result
// (tryon.js), the archive (archive.js); here the extension link, "Delete all my data", the
// server's health, and the wiring of it all. Plain ES modules, no build.

import { api, ensureToken, storedToken } from "./api.js";
import { forgetChosen, refreshArchive, renderArchive, turnArchivePage } from "./archive.js";
import { setupCamera } from "./camera.js";
import { $, busy, confirmAction, toast } from "./dom.js";
import { errorText, nextStep } from "./errors.js";
import { ExtensionLink } from "./extension-link.js";
import { putFile, setupDrop, showChosenFile } from "./files.js";
import { setPhotoNeeds } from "./needs.js";
import { loadProfiles, saveProfile, selectProfile } from "./profiles.js";
import { RUNNING_KEY, emptyArchive, state } from "./state.js";
import {
  cancelTryOn, deleteSession, follow, garmentSource, setGarmentSource, showError, showView, startTryOn, toggleKeep,
} from "./tryon.js";

const extension = new ExtensionLink(renderExtension);

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
    state.archive = emptyArchive();
    forgetChosen(); // "2 chosen" of try-ons that no longer exist would stay otherwise
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
    setPhotoNeeds(health.photo_needs); // answered while loading too: the advice shows at once
    // a hosted engine sends the photos to a company: the page says so whenever it runs one
    $("photos-sent-to").textContent = health.photos_sent_to || "";
    $("photos-sent-to").hidden = !health.photos_sent_to;
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
  window.addEventListener("tryon:profile-selected", () => {
    if (extension.state === "paired") pairExtension({ quiet: true });
  });
  // the server deleted the try-ons made with a deleted profile: no dead result or tiles stay
  window.addEventListener("tryon:profile-deleted", (event) => {
    const { id } = /** @type {CustomEvent} */ (event).detail;
    if (state.shown?.profile_id === id) {
      state.shown = null;
      if (!state.running) showView("empty");
    }
    refreshArchive({ stay: true });
  });
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
