//# allFunctionsCalledOnLoad
// (The line above asks V8 to compile every function of this file when it is injected, not on first
// call: the first detection on a page then runs compiled code. See README.md, "What it costs".)
// Wires detection, the button and the pairing listener on every page, and keeps them right as
// single-page shops swap images and URLs without reloading. (Globals here live as long as the
// page does; it is the service worker that must keep none.)
(() => {
  const NS = globalThis.__tryOn;
  if (!NS || NS.started) return;
  NS.started = true;

  const POLL_MS = 3000;
  const { detectProduct } = NS.detect;
  const { extractMetadata, guessCategory } = NS.metadata;

  let button = null;
  let found = null; // the current detection: {element, url, source, product}
  let watched = null; // {sessionId, timer} of the try-on this page started
  let timer = 0;
  let lastRun = 0;
  let lastHref = location.href;
  let isServerPage = false;

  async function ask(message) {
    try {
      return await chrome.runtime.sendMessage(message);
    } catch {
      return { ok: false, error: { message: "The extension was updated: reload this page, then try again." } };
    }
  }

  let detecting = false; // a detection is going on, in slices (detect.js)

  function refresh() {
    timer = 0;
    lastRun = Date.now();
    if (isServerPage) return;
    if (detecting) { // the page changed again meanwhile: look once more when this one is done
      schedule();
      return;
    }
    detecting = true;
    NS.detect.detectInSlices((next) => {
      detecting = false;
      show(next);
    });
  }

  function show(next) {
    if (isServerPage) return;
    if (next && !next.element.isConnected) { // the page replaced the picture while detection went on
      schedule(0);
      return;
    }
    watchShadowRoots();
    if (watched && button?.anchor?.isConnected) { // never move a button whose try-on is running
      button.reposition();
      return;
    }
    found = next;
    if (!next) {
      button?.detach();
      return;
    }
    button ||= new NS.TryOnButton(onClick);
    if (button.anchor !== next.element || button.imageUrl !== next.url) button.attach(next.element, next.url);
    else button.reposition();
    // Why this picture, on this page: readable in DevTools' Elements panel (and by the tests).
    button.host.dataset.tryonSource = next.source;
    button.host.dataset.tryonWhy = `page: ${next.why.page.join(", ")}; picture: ${next.why.picture.join(", ")}`;
  }

  // Detection reads boxes and styles. Run just after the browser has drawn a frame, when they are up
  // to date, so that it does not itself force the page's pending style and layout work (on a big
  // page that has just loaded or changed, most of what a detection would otherwise cost). A hidden
  // tab draws no frames: its detection waits until it is shown, when the button is of use.
  const afterFrame = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));

  // Some shops mutate their DOM many times a second (carousels, timers): detect at most every 600 ms.
  function schedule(delay = 250) {
    if (!timer) timer = setTimeout(() => afterFrame(refresh), Math.max(delay, 600 - (Date.now() - lastRun)));
  }

  function productInfo() {
    const metadata = extractMetadata(found?.product || NS.detect.jsonLdProduct());
    return { imageUrl: found?.url, pageUrl: location.href, metadata, category: guessCategory(metadata), source: found?.source };
  }

  function stopWatching() {
    if (watched) clearTimeout(watched.timer);
    watched = null;
  }

  function describe(session) {
    if (session.status === "queued") {
      return session.queue_position > 1 ? `In line: ${session.queue_position - 1} ahead` : "Next in line…";
    }
    const stage = session.stage ? ` (${session.stage})` : "";
    return `Trying on… ${Math.round((session.progress || 0) * 100)}%${stage}`;
  }

  async function watch(sessionId) {
    if (!watched || watched.sessionId !== sessionId) return;
    const answer = await ask({ type: "status", sessionId });
    if (!watched || watched.sessionId !== sessionId) return;
    if (!answer?.ok) {
      stopWatching();
      button.setIdle();
      button.showNote(answer?.error?.message || "Lost track of the try-on: open the extension to see it.");
      return;
    }
    const { session } = answer;
    if (session.status === "completed") {
      stopWatching();
      button.setDone();
    } else if (session.status === "failed") {
      stopWatching();
      button.setIdle();
      button.showNote(session.error || "The try-on failed: try another picture of this garment.");
    } else {
      button.setWorking(describe(session), session.progress || 0);
      watched.timer = setTimeout(() => watch(sessionId), POLL_MS);
    }
  }

  async function onClick(btn) {
    if (btn.state === "working") return;
    if (btn.state === "done") {
      btn.setIdle();
      await ask({ type: "showResult" });
      return;
    }
    const info = productInfo();
    if (!info.imageUrl) return;
    btn.setWorking("Sending…", 0.02);
    const answer = await ask({ type: "tryon", ...info, imageUrl: btn.imageUrl });
    if (!answer?.ok) {
      btn.setIdle();
      btn.showNote(answer?.error?.message || "The try-on could not start.");
      return;
    }
    stopWatching();
    const sessionId = answer.session.session_id;
    watched = { sessionId, timer: 0 };
    btn.setWorking(describe(answer.session), 0);
    watched.timer = setTimeout(() => watch(sessionId), 1000);
  }

  function onUrlChange() {
    if (location.href === lastHref) return;
    lastHref = location.href;
    stopWatching(); // a new product: the button starts fresh
    NS.detect.rescanSoon();
    button?.setIdle();
    button?.hideNote();
    // Single-page shops render the new product a little after the URL changes.
    schedule(50);
    setTimeout(() => schedule(0), 600);
    setTimeout(() => schedule(0), 1500);
  }

  // ---- start ------------------------------------------------------------------------------------

  NS.pairing.listenForPairing();

  // The popup asks the page what its product is ("Try it on" from the toolbar).
  chrome.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    if (message?.type !== "detect") return false;
    if (!found) found = detectProduct();
    sendResponse(found ? { found: true, ...productInfo() } : { found: false });
    return false;
  });

  ask({ type: "config" }).then((config) => {
    // The try-on server's own page shows people and results, never a product to try on.
    isServerPage = Boolean(config?.ok && config.paired && config.serverUrl === location.origin);
    if (isServerPage) button?.detach();
    else schedule(0);
  });

  const WATCH = {
    childList: true, subtree: true, attributes: true,
    attributeFilter: ["src", "srcset", "data-src", "data-srcset", "data-bgset", "data-bg", "class", "style", "hidden", "content"],
  };
  const observer = new MutationObserver((records) => {
    const host = button?.host;
    const ours = (node) => node === host;
    const relevant = records.some((r) => !ours(r.target) &&
      !(r.type === "childList" && [...r.addedNodes, ...r.removedNodes].every(ours)));
    if (relevant) schedule();
  });
  observer.observe(document.documentElement, WATCH);
  // Images that finish loading change size (lazy loaders, slow CDNs).
  const onLoad = (event) => { if (event.target?.tagName === "IMG") schedule(); };
  document.addEventListener("load", onLoad, true);

  // Neither mutations nor load events leave a shadow root: watch each open one detection looked into
  // (a web component's gallery swapping or lazy-loading its pictures).
  const watchedRoots = new WeakSet();
  function watchShadowRoots() {
    for (const root of NS.detect.shadowRoots()) {
      if (watchedRoots.has(root)) continue;
      watchedRoots.add(root);
      observer.observe(root, WATCH);
      root.addEventListener("load", onLoad, true);
    }
  }
  NS.detect.whenRescanned(() => schedule()); // a walk of a big page, done in idle time, may have found new pictures
  window.addEventListener("popstate", onUrlChange);
  // pushState from the page's own scripts is invisible to this isolated world: look for it.
  setInterval(() => {
    onUrlChange();
    button?.reposition(); // layout shifts above the image move it without resizing it
  }, 500);
})();
