// The toolbar popup: who is trying on (profile, size), the product on the current page, the live
// status of the current try-on (polled every 3 s), its result, and the last few results.
import { ApiError, TERMINAL, absoluteUrl, api } from "./lib/api.js";
import { KEYS, loadConfig } from "./lib/config.js";

const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);
const STAGES = { pose: "finding your pose", parsing: "reading your outline", segment: "reading your outline",
  warp: "fitting the garment", diffusion: "drawing the result", blend: "finishing" };

let pollTimer = 0; // the popup lives only while it is open: a global is fine here

function showError(err, config) {
  const box = $("error");
  box.hidden = false;
  $("error-text").textContent = err.message || String(err);
  const command = $("error-command");
  const action = $("error-action");
  command.hidden = true;
  action.hidden = true;
  if (err instanceof ApiError && err.kind === "offline" && !err.status) {
    command.hidden = false;
    command.textContent = "cd tryon-server\npython run.py";
  } else if (err instanceof ApiError && (err.kind === "unpaired" || err.kind === "no_profile")) {
    action.hidden = false;
    $("error-link").href = config.serverUrl;
    $("error-link").textContent = err.kind === "unpaired" ? `Open ${config.serverUrl} to connect` : `Open ${config.serverUrl} to add your photo`;
  }
}

function clearError() {
  $("error").hidden = true;
}

function errorFromMessage(error) {
  return new ApiError(error?.kind || "server", error?.message || "Something went wrong.", error || {});
}

// ---- profile ------------------------------------------------------------------------------------

// The top size and the neighbour its range reaches ("M or L"): a measurement from one photo is a range.
function sizeOf(profile) {
  const m = profile?.measurements;
  const top = m?.sizes?.top;
  const size = m?.size || top?.size || null;
  return size && top?.also ? `${size} or ${top.also}` : size;
}

async function renderProfiles(config) {
  const profiles = await api.profiles(config);
  if (!profiles.length) {
    throw new ApiError("no_profile", `Add a photo of yourself first: open ${config.serverUrl} and create a fitting profile.`);
  }
  let chosen = profiles.find((p) => p.profile_id === config.profileId);
  if (!chosen) {
    chosen = profiles[0];
    await chrome.storage.local.set({ [KEYS.profileId]: chosen.profile_id });
  }
  const select = $("profile-select");
  select.replaceChildren(...profiles.map((p, i) => new Option(p.name || `Profile ${i + 1}`, p.profile_id, false, p === chosen)));
  // One profile: its name as text; several: a choice.
  select.hidden = profiles.length < 2;
  $("profile-name").hidden = profiles.length > 1;
  const show = (profile) => {
    $("profile-photo").src = absoluteUrl(config, profile.photo_url) || "";
    $("profile-photo").alt = `Photo of ${profile.name || "you"}`;
    $("profile-name").textContent = profile.name || "You";
    const size = sizeOf(profile);
    $("profile-size").hidden = !size;
    $("profile-size").textContent = size ? `Your size: ${size}` : "";
  };
  show(chosen);
  select.onchange = async () => {
    const profile = profiles.find((p) => p.profile_id === select.value);
    await chrome.storage.local.set({ [KEYS.profileId]: profile.profile_id });
    show(profile);
  };
  $("profile").hidden = false;
}

// ---- the current page ------------------------------------------------------------------------------

async function targetTab() {
  // Opened as a page (the fallback when Chrome cannot open the popup) with ?tab=<id>.
  const wanted = Number(new URLSearchParams(location.search).get("tab"));
  if (wanted) return chrome.tabs.get(wanted).catch(() => null);
  if (await chrome.tabs.getCurrent()) return null; // this page is itself a tab: it has no shop page to look at
  const [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
  return tab && !tab.url?.startsWith(location.origin) ? tab : null;
}

async function renderPage() {
  const tab = await targetTab();
  if (!tab) return;
  $("page").hidden = false;
  let info = null;
  try {
    info = await chrome.tabs.sendMessage(tab.id, { type: "detect" });
  } catch {
    info = null; // no content script there: a browser page, or a tab opened before the extension was installed
  }
  if (!info?.found) {
    $("page-none").hidden = false;
    return;
  }
  $("page-product").hidden = false;
  $("page-image").src = info.imageUrl;
  $("page-product-title").textContent = info.metadata?.title || "This product";
  $("category").value = info.category || "upper";
  $("tryon").onclick = async () => {
    $("tryon").disabled = true;
    clearError();
    const answer = await chrome.runtime.sendMessage({ type: "tryon", ...info, category: $("category").value });
    $("tryon").disabled = false;
    if (!answer?.ok) showError(errorFromMessage(answer?.error), await loadConfig());
    // On success the service worker stores currentSession; storage.onChanged starts the watch.
  };
}

// ---- the current try-on ----------------------------------------------------------------------------

function describe(session) {
  if (session.status === "queued" && session.retry_in_s) {
    return `Waiting for the provider, retrying in ${session.retry_in_s} s`;
  }
  if (session.status === "queued") {
    return session.queue_position > 1 ? `Waiting in line: ${session.queue_position - 1} ahead of you` : "Next in line…";
  }
  if (session.status === "processing") {
    const stage = STAGES[session.stage] || session.stage || "working";
    return `Trying on: ${stage} (${Math.round((session.progress || 0) * 100)}%)`;
  }
  if (session.status === "completed") return "Done.";
  return session.error || "The try-on failed: try another picture of this garment.";
}

function renderSession(config, current, session) {
  $("current").hidden = false;
  $("current-what").textContent = current.title || "Your garment";
  $("current-status").textContent = describe(session);
  $("current-status").dataset.status = session.status;
  const percent = Math.round((session.status === "completed" ? 1 : session.progress || 0) * 100);
  $("current-bar").style.width = `${percent}%`;
  document.querySelector(".progress").setAttribute("aria-valuenow", String(percent));
  $("result").hidden = session.status !== "completed";
  if (session.status === "completed") {
    const url = absoluteUrl(config, session.result_url);
    if ($("result-image").getAttribute("src") !== url) $("result-image").src = url;
    $("result-open").href = url;
    const keep = $("result-keep");
    const paint = (kept) => {
      keep.textContent = kept ? "Kept ✓" : "Keep";
      keep.setAttribute("aria-pressed", String(kept));
    };
    paint(Boolean(session.kept));
    keep.onclick = async () => {
      keep.disabled = true;
      try {
        const updated = await api.keep(config, session.session_id, keep.getAttribute("aria-pressed") !== "true");
        paint(Boolean(updated.kept));
      } catch (err) {
        showError(err, config);
      } finally {
        keep.disabled = false;
      }
    };
  }
}

async function watchCurrent() {
  clearTimeout(pollTimer);
  const config = await loadConfig();
  const current = config.currentSession;
  if (!current?.sessionId || !config.paired) return;
  try {
    const { ok, session, error } = await chrome.runtime.sendMessage({ type: "status", sessionId: current.sessionId });
    if (!ok) throw errorFromMessage(error);
    renderSession(config, current, session);
    if (!TERMINAL.has(session.status)) pollTimer = setTimeout(watchCurrent, POLL_MS);
    else {
      await chrome.action.setBadgeText({ text: "" }); // seen
      if (session.status === "completed") renderRecent(config).catch(() => {});
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return; // expired or deleted: nothing to show
    showError(err, config);
  }
}

// ---- recent results ---------------------------------------------------------------------------------

async function renderRecent(config) {
  const items = await api.archive(config, 5);
  if (!items.length) return;
  $("recent-list").replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = absoluteUrl(config, item.result_url);
    link.target = "_blank";
    link.rel = "noopener";
    const img = document.createElement("img");
    img.src = link.href;
    img.alt = item.metadata?.title ? `You in ${item.metadata.title}` : "A previous try-on";
    link.append(img);
    li.append(link);
    return li;
  }));
  $("recent").hidden = false;
}

// ---- start ------------------------------------------------------------------------------------------

async function main() {
  const config = await loadConfig();
  $("options-link").href = chrome.runtime.getURL("options.html");
  try {
    const health = await api.health(config);
    // a hosted engine sends the photos to a company: say so before anything is tried on
    $("photos-sent-to").textContent = health?.photos_sent_to || "";
    $("photos-sent-to").hidden = !health?.photos_sent_to;
    if (!config.paired) await api.profiles(config); // raises the "not paired" sentence
    await renderProfiles(config);
  } catch (err) {
    showError(err, config);
    return;
  }
  await Promise.all([
    renderPage().catch((err) => showError(err, config)),
    watchCurrent(),
    renderRecent(config).catch((err) => showError(err, config)),
  ]);
}

chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && changes[KEYS.currentSession]) watchCurrent();
});

main();
