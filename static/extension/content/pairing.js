// The pairing protocol with the try-on server's own demo page (see the team's pairing contract):
// only on loopback origins, only messages the page posts to itself.
//   page → extension  {source: "tryon-page", type: "ping"}                       → "hello"
//   page → extension  {source: "tryon-page", type: "pair", token, serverUrl, profileId} → "paired"
(() => {
  const NS = (globalThis.__tryOn ||= {});
  const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

  function reply(message) {
    window.postMessage({ source: "tryon-extension", ...message }, location.origin);
  }

  async function ask(message) {
    try {
      return await chrome.runtime.sendMessage(message);
    } catch (err) {
      // The extension was reloaded or updated under this page: its old content script is orphaned.
      return { ok: false, error: { message: "The extension was updated: reload this page, then try again." } };
    }
  }

  async function onMessage(event) {
    if (event.source !== window || event.origin !== location.origin) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.source !== "tryon-page") return;
    if (msg.type === "ping") {
      const hello = await ask({ type: "hello" });
      reply({
        type: "hello", version: chrome.runtime.getManifest().version, paired: Boolean(hello?.paired),
        serverUrl: hello?.serverUrl ?? null, profileId: hello?.profileId ?? null,
      });
    } else if (msg.type === "pair") {
      if (msg.serverUrl !== location.origin) {
        // A page may only pair the extension with itself, never point it at another server.
        reply({ type: "paired", ok: false, error: "The server address must be this page's own address." });
        return;
      }
      const answer = await ask({ type: "pair", token: msg.token, serverUrl: msg.serverUrl, profileId: msg.profileId || null });
      if (answer?.ok) reply({ type: "paired", ok: true, serverUrl: answer.serverUrl, profileId: answer.profileId });
      else reply({ type: "paired", ok: false, error: answer?.error?.message || "Pairing failed." });
    }
  }

  function listenForPairing() {
    if (LOOPBACK.has(location.hostname)) window.addEventListener("message", onMessage);
  }

  NS.pairing = { listenForPairing };
})();
