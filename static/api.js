// The server's HTTP API (see shared/API.md), as the page uses it: the anonymous token kept in
// localStorage, JSON/multipart requests with the bearer header, and errors as ApiError whose
// message is the server's own sentence.

const TOKEN_KEY = "tryon.token";

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function storedToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

let pendingToken = null;

/** The token, asking the server for one on first use (concurrent callers share one request). */
export async function ensureToken() {
  const have = storedToken();
  if (have) return have;
  if (!pendingToken) {
    pendingToken = (async () => {
      const response = await fetch("/api/tokens", { method: "POST" });
      if (!response.ok) throw await errorFrom(response);
      const { token } = await response.json();
      localStorage.setItem(TOKEN_KEY, token);
      return token;
    })().finally(() => { pendingToken = null; });
  }
  return pendingToken;
}

async function errorFrom(response) {
  let code = "http_" + response.status;
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    /* not JSON (a proxy page, a crash): keep the generic sentence */
  }
  return new ApiError(response.status, code, message, response.headers.get("Retry-After"));
}

/**
 * fetch() with the bearer token. `body` may be FormData (multipart) or a plain object (JSON).
 * A 401 means the server no longer knows our token (its data folder was reset): we forget it,
 * get a fresh one and try once more, so the page heals instead of failing forever.
 * @param {string} method
 * @param {string} path
 * @param {{body?: FormData | object, signal?: AbortSignal, raw?: boolean}} [options]
 */
export async function request(method, path, { body, signal, raw = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = await ensureToken();
    const init = { method, signal, headers: { Authorization: `Bearer ${token}` } };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "The try-on server cannot be reached. Is it still running?");
    }
    if (response.status === 401 && attempt === 0) {
      forgetToken();
      window.dispatchEvent(new CustomEvent("tryon:token-reset"));
      continue;
    }
    if (!response.ok) throw await errorFrom(response);
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
}

export const api = {
  health: async () => {
    const response = await fetch("/api/health", { cache: "no-store" });
    return { ok: response.ok, ...(await response.json().catch(() => ({}))) };
  },
  listProfiles: () => request("GET", "/api/profiles"),
  createProfile: (form) => request("POST", "/api/profiles", { body: form }),
  getProfile: (id) => request("GET", `/api/profiles/${encodeURIComponent(id)}`),
  setProfileHeight: (id, heightCm) => request("PATCH", `/api/profiles/${encodeURIComponent(id)}`, { body: { height_cm: heightCm } }),
  deleteProfile: (id) => request("DELETE", `/api/profiles/${encodeURIComponent(id)}`),
  estimateBody: (profileId, heightCm) => {
    const form = new FormData();
    form.set("profile_id", profileId);
    form.set("height_cm", String(heightCm));
    return request("POST", "/api/estimate-body", { body: form });
  },
  createSession: (form) => request("POST", "/api/tryon/sessions", { body: form }),
  getSession: (id, signal) => request("GET", `/api/tryon/sessions/${encodeURIComponent(id)}`, { signal }),
  deleteSession: (id) => request("DELETE", `/api/tryon/sessions/${encodeURIComponent(id)}`),
  keepSession: (id, keep) => request("POST", `/api/tryon/sessions/${encodeURIComponent(id)}/keep`, { body: { keep } }),
  archive: (limit, cursor) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return request("GET", `/api/tryon/archive?${query}`);
  },
  /** Delete all my data: the server forgets the token, so we do too. */
  deleteEverything: async () => {
    const token = storedToken();
    if (token) {
      const response = await fetch("/api/tokens/current", { method: "DELETE", headers: { Authorization: `Bearer ${token}` } });
      // 401: the server had already forgotten this token, which is the state we want
      if (!response.ok && response.status !== 401) throw await errorFrom(response);
    }
    forgetToken();
  },
};
