// The try-on server's HTTP API, as the extension uses it. Shared by the service worker, the popup
// and the options page. Every failure becomes an ApiError whose message tells the shopper what to do.

const START_HINT = "Start it in the tryon-server folder with: python run.py";

export class ApiError extends Error {
  /**
   * @param {"offline"|"unpaired"|"no_profile"|"rejected"|"server"} kind
   * @param {string} message a sentence for the shopper
   * @param {{status?: number, code?: string}} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = details.status ?? 0;
    this.code = details.code ?? kind;
  }
}

export function pairingHint(serverUrl) {
  return `Open ${serverUrl} in this browser and click "Connect the browser extension", or paste a token in the extension's options.`;
}

/** Plain data for chrome.runtime messages (an Error does not survive structured cloning). */
export function errorToJson(err) {
  if (err instanceof ApiError) return { kind: err.kind, code: err.code, status: err.status, message: err.message };
  return { kind: "server", code: "unexpected", status: 0, message: String(err?.message || err) };
}

/**
 * One call to the server. `config` is what loadConfig() returns.
 * @returns {Promise<any>} the parsed JSON body (null for 204)
 */
export async function apiFetch(config, path, init = {}, { auth = true, timeoutMs = 30000 } = {}) {
  if (auth && !config.token) {
    throw new ApiError("unpaired", `The extension is not connected to your try-on server yet. ${pairingHint(config.serverUrl)}`);
  }
  const headers = new Headers(init.headers || {});
  if (auth) headers.set("Authorization", `Bearer ${config.token}`);
  let response;
  try {
    response = await fetch(new URL(path, config.serverUrl), {
      ...init, headers, credentials: "omit", signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err?.name === "TimeoutError") {
      throw new ApiError("offline", `The try-on server at ${config.serverUrl} did not answer in time. Check that it is still running, then try again.`);
    }
    throw new ApiError("offline", `The try-on server at ${config.serverUrl} is not running. ${START_HINT}`);
  }
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok) return body;
  const message = body?.error?.message || `The server answered ${response.status}.`;
  const code = body?.error?.code || `http_${response.status}`;
  if (response.status === 401) {
    throw new ApiError("unpaired", `The server does not know this extension's token. ${pairingHint(config.serverUrl)}`, { status: 401, code });
  }
  if (response.status === 503 && !path.startsWith("/api/tryon")) {
    throw new ApiError("offline", `The try-on server is still starting: ${message}`, { status: 503, code });
  }
  throw new ApiError(response.status >= 500 ? "server" : "rejected", message, { status: response.status, code });
}

export const api = {
  health: (config) => apiFetch(config, "/api/health", {}, { auth: false, timeoutMs: 5000 }),
  profiles: async (config) => (await apiFetch(config, "/api/profiles")).items || [],
  createSession: (config, form) => apiFetch(config, "/api/tryon/sessions", { method: "POST", body: form }, { timeoutMs: 60000 }),
  session: (config, id) => apiFetch(config, `/api/tryon/sessions/${encodeURIComponent(id)}`),
  keep: (config, id, keep = true) => apiFetch(config, `/api/tryon/sessions/${encodeURIComponent(id)}/keep`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ keep }),
  }),
  archive: async (config, limit = 5) => (await apiFetch(config, `/api/tryon/archive?limit=${limit}`)).items || [],
};

/** Signed links from the server are relative: make them absolute on the server's origin. */
export function absoluteUrl(config, link) {
  return link ? new URL(link, config.serverUrl).href : null;
}

export const TERMINAL = new Set(["completed", "failed"]);
