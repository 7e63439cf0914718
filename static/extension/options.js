// The options page: pairing by hand (server address and token), and un-pairing.
import { KEYS, loadConfig, normalizeServerUrl } from "./lib/config.js";

const $ = (id) => document.getElementById(id);

function say(text, ok) {
  $("result-text").textContent = text;
  $("result-text").dataset.ok = String(ok);
}

async function show() {
  const config = await loadConfig();
  $("server-url").value = config.serverUrl;
  $("open-server").href = config.serverUrl;
  $("open-server").textContent = `Open the try-on page (${config.serverUrl})`;
  if (config.paired) say(`Connected to ${config.serverUrl}.`, true);
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  let serverUrl;
  try {
    serverUrl = normalizeServerUrl($("server-url").value);
  } catch (err) {
    say(err.message, false);
    return;
  }
  const token = $("token").value.trim();
  if (!token) {
    say("Paste the token from the try-on page, or connect from that page in one click.", false);
    return;
  }
  say("Connecting…", true);
  // The service worker checks the token against the server before storing anything.
  const answer = await chrome.runtime.sendMessage({ type: "pair", serverUrl, token, profileId: null });
  if (answer?.ok) {
    $("token").value = "";
    say(`Connected to ${answer.serverUrl}.`, true);
  } else {
    say(answer?.error?.message || "Could not connect.", false);
  }
});

$("forget").addEventListener("click", async () => {
  await chrome.storage.local.remove([KEYS.token, KEYS.profileId, KEYS.currentSession]);
  say("Disconnected: this browser no longer holds a token.", true);
});

show();
