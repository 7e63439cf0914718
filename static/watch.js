// Follows one try-on session until it ends: the SSE stream first, polling every 2 s if it drops.
// EventSource cannot send an Authorization header, so the stream is read with fetch() and the
// `event:` / `data:` lines are parsed here.

import { ApiError, api, request } from "./api.js";

const POLL_MS = 2000;
const TERMINAL = new Set(["completed", "failed"]);

/** Splits an SSE byte stream into {event, data} messages (the WHATWG event-stream format). */
async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "message";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        // a "\r" that ends the chunk may be half of "\r\n": wait for the next chunk to tell
        if (newline === buffer.length - 1 && buffer.endsWith("\r")) break;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (data.length) yield { event, data: data.join("\n") };
          event = "message";
          data = [];
        } else if (line.startsWith(":")) {
          // a comment: sse-starlette's keep-alive ping
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Calls onUpdate(session) on every change and resolves with the final session (completed or
 * failed), or with null if the session was deleted. `signal` stops watching.
 * onTransport("stream" | "polling") says which way updates are arriving (shown to the user).
 * @param {string} sessionId
 * @param {{onUpdate: (session: any) => void, onTransport?: (how: string) => void, signal?: AbortSignal}} handlers
 */
export async function watchSession(sessionId, { onUpdate, onTransport = () => {}, signal }) {
  let last = null;
  const seen = (session) => {
    last = session;
    onUpdate(session);
    return TERMINAL.has(session.status);
  };

  try {
    onTransport("stream");
    const response = await request("GET", `/api/tryon/sessions/${encodeURIComponent(sessionId)}/events`, { signal, raw: true });
    for await (const message of readEvents(response.body)) {
      if (message.event === "deleted") return null;
      if (message.event === "session" && seen(JSON.parse(message.data))) return last;
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    if (err instanceof ApiError && err.status === 404) return null;
    // the stream dropped (server restart, proxy, network blip): polling takes over below
  }

  onTransport("polling");
  for (;;) {
    if (signal?.aborted) throw new DOMException("stopped", "AbortError");
    try {
      if (seen(await api.getSession(sessionId, signal))) return last;
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof ApiError && err.status === 404) return null;
      // a transient error: keep polling, the user sees the last known state meanwhile
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
