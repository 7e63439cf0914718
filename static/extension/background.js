// The service worker: the only part of the extension that talks to shops' image hosts and, for
// content scripts, to the try-on server. It keeps no state in globals (Chrome may stop it between
// any two events): everything it needs is read from chrome.storage.local on each message.

import { ApiError, api, errorToJson, TERMINAL } from "./lib/api.js";
import { CATEGORIES, KEYS, loadConfig, normalizeServerUrl } from "./lib/config.js";
import { downloadImage } from "./lib/download.js";

const BADGE = {
  working: { text: "…", color: "#52525b" },
  completed: { text: "✓", color: "#16a34a" },
  failed: { text: "!", color: "#dc2626" },
};

async function setBadge(state) {
  const badge = BADGE[state];
  await chrome.action.setBadgeText({ text: badge ? badge.text : "" });
  if (badge) await chrome.action.setBadgeBackgroundColor({ color: badge.color });
}

/** Pair with the server (from the demo page, through the content script, or the options page). */
async function pair({ serverUrl, token, profileId }) {
  const origin = normalizeServerUrl(serverUrl);
  if (typeof token !== "string" || !/^[\w.~+/=-]{16,512}$/.test(token)) {
    throw new ApiError("rejected", "The pairing message carries no valid token.");
  }
  const config = { serverUrl: origin, token };
  // Check before storing: a page on another loopback port must not be able to pose as the server.
  const profiles = await api.profiles(config);
  if (profileId && !profiles.some((p) => p.profile_id === profileId)) {
    throw new ApiError("rejected", "That profile does not belong to this token.");
  }
  const chosen = profileId || profiles[0]?.profile_id || null;
  await chrome.storage.local.set({ [KEYS.serverUrl]: origin, [KEYS.token]: token, [KEYS.profileId]: chosen });
  return { serverUrl: origin, profileId: chosen };
}

async function chosenProfile(config) {
  if (config.profileId) return config.profileId;
  const profiles = await api.profiles(config);
  if (!profiles.length) {
    throw new ApiError("no_profile", `Add a photo of yourself first: open ${config.serverUrl} and create a fitting profile.`);
  }
  await chrome.storage.local.set({ [KEYS.profileId]: profiles[0].profile_id });
  return profiles[0].profile_id;
}

// The server's bounds for the product fields (api/sessions.py PRODUCT_TEXT): a shop page's overlong
// text is cut here rather than refused there, which would cost the shopper the try-on.
const METADATA_LIMITS = { title: 300, shop: 120, brand: 120, price: 40, currency: 10 };

function cleanMetadata(meta = {}) {
  const out = {};
  for (const [key, limit] of Object.entries(METADATA_LIMITS)) {
    const value = meta[key];
    if (typeof value === "string" && value.trim()) out[key] = value.trim().slice(0, limit).trim();
  }
  return out;
}

/**
 * Send one garment to the server. The image is downloaded here and uploaded; if that is
 * impossible the server is asked to fetch `garment_url` itself.
 * @param {{imageUrl: string, pageUrl?: string, metadata?: object, category?: string}} request
 */
async function startTryOn(request) {
  const config = await loadConfig();
  if (!config.token) await api.profiles(config); // raises the "not paired" sentence
  const profileId = await chosenProfile(config);
  const category = CATEGORIES.includes(request.category) ? request.category : "upper";
  const form = new FormData();
  form.set("profile_id", profileId);
  form.set("category", category);
  if (/^https?:\/\//i.test(request.pageUrl || "") && request.pageUrl.length <= 2048) form.set("page_url", request.pageUrl);
  const metadata = cleanMetadata(request.metadata);
  if (Object.keys(metadata).length) form.set("metadata", JSON.stringify(metadata));

  let via = "upload";
  let downloadProblem = null;
  try {
    const { blob, filename } = await downloadImage(request.imageUrl);
    form.set("garment", blob, filename);
  } catch (err) {
    via = "url";
    downloadProblem = String(err?.message || err);
    form.set("garment_url", request.imageUrl);
  }
  await setBadge("working");
  let accepted;
  try {
    try {
      accepted = await api.createSession(config, form);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === "profile_not_found")) throw err;
      // The chosen profile was deleted on the demo page since: fall back to another one, once.
      await chrome.storage.local.remove(KEYS.profileId);
      form.set("profile_id", await chosenProfile({ ...config, profileId: null }));
      accepted = await api.createSession(config, form);
    }
  } catch (err) {
    await setBadge("failed");
    if (via === "url" && err instanceof ApiError && err.kind === "rejected") {
      throw new ApiError("rejected", `The extension could not download this image (${downloadProblem}) and the server could not either: ${err.message}`, err);
    }
    throw err;
  }
  const current = {
    sessionId: accepted.session_id, imageUrl: request.imageUrl, pageUrl: request.pageUrl || null,
    title: metadata.title || null, category, via, startedAt: Date.now(),
  };
  await chrome.storage.local.set({ [KEYS.currentSession]: current });
  return { session: accepted, via, downloadProblem };
}

/** The session as the server has it now; the badge follows it. */
async function sessionStatus(sessionId) {
  const config = await loadConfig();
  const session = await api.session(config, sessionId);
  if (TERMINAL.has(session.status) && config.currentSession?.sessionId === sessionId) {
    await setBadge(session.status);
  }
  return { session, serverUrl: config.serverUrl };
}

/** Show the result: the toolbar popup where Chrome allows opening it, else the popup page in a tab. */
async function showResult(tabId) {
  try {
    await chrome.action.openPopup();
    return { shown: "popup" };
  } catch {
    const query = Number.isInteger(tabId) ? `?tab=${tabId}` : "";
    await chrome.tabs.create({ url: chrome.runtime.getURL(`popup.html${query}`) });
    return { shown: "tab" };
  }
}

const HANDLERS = {
  hello: async () => {
    const config = await loadConfig();
    return {
      version: chrome.runtime.getManifest().version, paired: config.paired,
      serverUrl: config.paired ? config.serverUrl : null, profileId: config.profileId,
    };
  },
  pair: (msg, sender) => {
    // From a content script, only the server's own page may pair (the content script checks it
    // too; this holds even if that check were ever bypassed). The options page is the extension's own.
    const fromExtensionPage = sender.origin === self.location.origin;
    if (!fromExtensionPage && sender.origin !== msg.serverUrl) {
      throw new ApiError("rejected", "Only the try-on server's own page can connect the extension to it.");
    }
    return pair(msg);
  },
  tryon: (msg) => startTryOn(msg),
  status: (msg) => sessionStatus(msg.sessionId),
  showResult: (_msg, sender) => showResult(sender.tab?.id),
  config: async () => {
    const config = await loadConfig();
    return { serverUrl: config.serverUrl, paired: config.paired, currentSession: config.currentSession };
  },
};

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  // Only this extension's own pages and content scripts can send here (no externally_connectable).
  const handler = sender.id === chrome.runtime.id ? HANDLERS[message?.type] : undefined;
  if (!handler) return false;
  Promise.resolve().then(() => handler(message, sender)).then(
    (result) => sendResponse({ ok: true, ...result }),
    (err) => sendResponse({ ok: false, error: errorToJson(err) }),
  );
  return true; // the answer comes asynchronously
});
