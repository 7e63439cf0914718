// Settings kept in chrome.storage.local. The service worker reads them on every event instead of
// caching them in globals: Chrome stops an idle service worker at any time and its globals go with it.

export const DEFAULT_SERVER_URL = "http://127.0.0.1:8000";
export const CATEGORIES = ["upper", "lower", "dress"];

/** Storage keys (part of the pairing contract with the demo page: serverUrl, token, profileId). */
export const KEYS = Object.freeze({
  serverUrl: "serverUrl",
  token: "token",
  profileId: "profileId",
  currentSession: "currentSession",
});

// The server refuses any Host header but its loopback names (a DNS-rebinding guard), so the
// extension only ever talks to it by one of these.
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * The server URL reduced to its origin, or an Error saying what is wrong with it.
 * @param {string} text
 * @returns {string}
 */
export function normalizeServerUrl(text) {
  let url;
  try {
    url = new URL(String(text || "").trim());
  } catch {
    throw new Error("The server address is not a URL: write it like http://127.0.0.1:8000");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error("The server address must start with http:// (for example http://127.0.0.1:8000).");
  }
  if (!LOOPBACK_HOSTS.has(url.hostname)) {
    throw new Error("The try-on server runs on this computer: use 127.0.0.1, localhost or [::1] as its address.");
  }
  return url.origin;
}

/** @returns {Promise<{serverUrl: string, token: string|null, profileId: string|null, paired: boolean, currentSession: object|null}>} */
export async function loadConfig() {
  const stored = await chrome.storage.local.get(Object.values(KEYS));
  const serverUrl = stored.serverUrl || DEFAULT_SERVER_URL;
  const token = stored.token || null;
  return {
    serverUrl,
    token,
    profileId: stored.profileId || null,
    paired: Boolean(stored.serverUrl && token),
    currentSession: stored.currentSession || null,
  };
}
