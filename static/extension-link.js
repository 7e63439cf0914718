// Talks to the browser extension's content script with window.postMessage (the pairing
// protocol shared with static/extension/): ping -> hello, pair -> paired.

const PAIRED_TOKEN_KEY = "tryon.extensionToken";
const HELLO_WAIT_MS = 1000;

/**
 * state: "unknown" (still asking) | "missing" | "installed" (not paired with this page) |
 * "paired" (paired with this server and this token) | "error".
 */
export class ExtensionLink {
  constructor(onChange) {
    this.onChange = onChange;
    this.state = "unknown";
    this.version = null;
    this.detail = "";
    this.profileId = null;
    this.pairWaiters = [];
    window.addEventListener("message", (event) => this.receive(event));
  }

  /** Asks whether the extension is there; no hello within ~1 s means it is not installed. */
  probe(currentToken) {
    this.currentToken = currentToken;
    // content scripts start at document_idle, possibly after this script: ask again shortly
    for (const delay of [0, 300, 800]) setTimeout(() => post({ type: "ping" }), delay);
    setTimeout(() => {
      if (this.state === "unknown") this.set("missing", "");
    }, 800 + HELLO_WAIT_MS);
  }

  receive(event) {
    if (event.source !== window || event.origin !== location.origin) return;
    const msg = event.data;
    if (!msg || msg.source !== "tryon-extension") return;
    if (msg.type === "hello") {
      this.version = msg.version || null;
      this.profileId = msg.profileId || null;
      const pairedHere = msg.paired && msg.serverUrl === location.origin;
      if (pairedHere && this.currentToken && localStorage.getItem(PAIRED_TOKEN_KEY) === this.currentToken) {
        this.set("paired", "");
      } else if (msg.paired) {
        this.set("installed", "It is connected to another server or an old token: connect it again.");
      } else {
        this.set("installed", "");
      }
    } else if (msg.type === "paired") {
      const waiter = this.pairWaiters.shift();
      if (msg.ok) {
        localStorage.setItem(PAIRED_TOKEN_KEY, this.pendingToken);
        this.currentToken = this.pendingToken;
        this.profileId = msg.profileId || null;
        this.set("paired", "");
        waiter?.resolve(msg);
      } else {
        this.set("installed", msg.error || "The extension refused to connect.");
        waiter?.reject(new Error(msg.error || "The extension refused to connect."));
      }
    }
  }

  /** Hands this page's token, server and chosen profile to the extension. */
  pair(token, profileId) {
    this.pendingToken = token;
    post({ type: "pair", token, serverUrl: location.origin, profileId: profileId || null });
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.pairWaiters.push(waiter);
      setTimeout(() => {
        const i = this.pairWaiters.indexOf(waiter);
        if (i >= 0) {
          this.pairWaiters.splice(i, 1);
          reject(new Error("The extension did not answer. Reload this page and try again."));
        }
      }, 3000);
    });
  }

  /** After "Delete all my data" the extension's token is dead: it must be connected again. */
  tokenChanged(token) {
    this.currentToken = token;
    if (!token) localStorage.removeItem(PAIRED_TOKEN_KEY);
    if (this.state === "paired" && (!token || localStorage.getItem(PAIRED_TOKEN_KEY) !== token)) {
      this.set("installed", "Your data was deleted, so the extension must be connected again.");
    }
  }

  set(state, detail) {
    this.state = state;
    this.detail = detail;
    this.onChange(this);
  }
}

function post(body) {
  window.postMessage({ source: "tryon-page", ...body }, location.origin);
}
