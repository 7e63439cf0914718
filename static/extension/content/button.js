//# allFunctionsCalledOnLoad
// (The line above asks V8 to compile every function of this file when it is injected, not on first
// call: the first detection on a page then runs compiled code. See README.md, "What it costs".)
// The "Try it on" button. It lives in an open shadow root on a host element of its own, laid over
// the product image's top-left corner: the shop's CSS cannot reach inside, and the shop's layout
// (flex galleries, <picture>, carousels) is never touched because nothing is inserted into it.
(() => {
  const NS = (globalThis.__tryOn ||= {});
  const HOST_TAG = "tryon-extension-button";
  const INSET = 12;

  const STYLE = `
    :host { all: initial; }
    .wrap { display: flex; flex-direction: column; align-items: flex-start; gap: 6px;
      font: 600 14px/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    button { all: unset; box-sizing: border-box; display: inline-flex; align-items: center; gap: 8px;
      padding: 9px 14px; border-radius: 999px; background: #18181b; color: #fff; cursor: pointer;
      box-shadow: 0 2px 10px rgba(0,0,0,.28); font: inherit; letter-spacing: .01em; white-space: nowrap; }
    button:hover { background: #27272a; }
    button:focus-visible { outline: 3px solid #ec4899; outline-offset: 2px; }
    button[aria-busy="true"] { cursor: progress; }
    .dot { width: 9px; height: 9px; border-radius: 50%; background: #ec4899; flex: none; }
    button.done .dot { background: #22c55e; }
    .bar { display: none; width: 100%; height: 4px; border-radius: 2px; background: rgba(255,255,255,.25); overflow: hidden; }
    .bar > i { display: block; height: 100%; width: 0; background: #ec4899; transition: width .3s; }
    [aria-busy="true"] .bar { display: block; }
    .label { display: flex; flex-direction: column; gap: 5px; }
    .note { display: none; max-width: 300px; padding: 10px 12px; border-radius: 10px; background: #fff; color: #18181b;
      font: 400 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; box-shadow: 0 4px 16px rgba(0,0,0,.25);
      border-left: 4px solid #dc2626; }
    .note.show { display: block; }
  `;

  class TryOnButton {
    /** @param {(button: TryOnButton) => void} onClick */
    constructor(onClick) {
      this.anchor = null;
      this.imageUrl = null;
      this.host = document.createElement(HOST_TAG);
      // Inline !important beats any rule in the shop's stylesheets for the host box itself.
      this.host.style.cssText = "all: initial !important; position: absolute !important; z-index: 2147483646 !important;"
        + " display: none !important; top: 0 !important; left: 0 !important;";
      const root = this.host.attachShadow({ mode: "open" });
      root.innerHTML = `<style>${STYLE}</style>
        <div class="wrap">
          <button type="button" part="button"><span class="dot" aria-hidden="true"></span>
            <span class="label"><span class="text">Try it on</span><span class="bar" aria-hidden="true"><i></i></span></span>
          </button>
          <div class="note" role="status" aria-live="polite"></div>
        </div>`;
      this.button = root.querySelector("button");
      this.text = root.querySelector(".text");
      this.bar = root.querySelector(".bar > i");
      this.note = root.querySelector(".note");
      this.button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation(); // the image is often inside a link or a zoom trigger
        // The shadow root is open (so the shop's page can see it), and a script of that page can
        // call button.click(): only a click the shopper made (isTrusted) may send a picture,
        // else any page could make the extension download whatever URL it names.
        if (!event.isTrusted) return;
        onClick(this);
      });
      // A click must not reach the shop's handlers (gallery zoom, lightbox, link) either.
      for (const type of ["mousedown", "pointerdown", "touchstart"]) this.host.addEventListener(type, (e) => e.stopPropagation());
      this.reposition = this.reposition.bind(this);
      this.resizeObserver = new ResizeObserver(this.reposition);
      this.setIdle();
    }

    /** Lay the button over `element`, which shows `imageUrl`. */
    attach(element, imageUrl, label = "Try it on") {
      if (this.anchor !== element) {
        this.resizeObserver.disconnect();
        this.resizeObserver.observe(element);
      }
      this.anchor = element;
      this.imageUrl = imageUrl;
      this.host.dataset.tryonImage = imageUrl; // which picture this button sends (read by tests and debugging)
      this.idleLabel = label;
      if (!this.host.isConnected) {
        // On <html>, not <body>: a positioned <body> with a margin would shift an absolute box.
        document.documentElement.appendChild(this.host);
        window.addEventListener("scroll", this.reposition, { capture: true, passive: true });
        window.addEventListener("resize", this.reposition, { passive: true });
      }
      this.reposition();
    }

    detach() {
      this.resizeObserver.disconnect();
      window.removeEventListener("scroll", this.reposition, { capture: true });
      window.removeEventListener("resize", this.reposition);
      this.host.remove();
      this.anchor = null;
      this.imageUrl = null;
    }

    reposition() {
      const el = this.anchor;
      if (!el || !el.isConnected) {
        this.host.style.setProperty("display", "none", "important");
        return;
      }
      // The visible part of the image: a half-clipped carousel slide keeps the button on show.
      const rect = NS.detect.visibleRect(el);
      const hidden = !rect || rect.width < 40 || rect.height < 40;
      this.host.style.setProperty("display", hidden ? "none" : "block", "important");
      if (hidden) return;
      // Absolute in the document (not fixed): it scrolls with the image without a frame of lag.
      const left = rect.left + window.scrollX + INSET;
      const top = rect.top + window.scrollY + INSET;
      this.host.style.setProperty("left", `${Math.round(left)}px`, "important");
      this.host.style.setProperty("top", `${Math.round(top)}px`, "important");
    }

    setIdle() {
      this.state = "idle";
      this.button.removeAttribute("aria-busy");
      this.text.textContent = this.idleLabel || "Try it on";
      this.button.setAttribute("aria-label", "Try it on: see this garment on your photo");
      this.bar.style.width = "0";
    }

    /** While the server works: "Sending…", "In line: 2 ahead", "Trying on… 40%". */
    setWorking(label, progress = 0) {
      this.state = "working";
      this.button.setAttribute("aria-busy", "true");
      this.text.textContent = label;
      this.button.setAttribute("aria-label", `Try-on in progress: ${label}`);
      this.bar.style.width = `${Math.round(Math.max(0, Math.min(1, progress)) * 100)}%`;
      this.hideNote();
    }

    setDone() {
      this.state = "done";
      this.button.removeAttribute("aria-busy");
      this.text.textContent = "Try-on ready: see it";
      this.button.setAttribute("aria-label", "Try-on ready: see the result");
      this.hideNote();
    }

    showNote(message) {
      this.note.textContent = message;
      this.note.classList.add("show");
    }

    hideNote() {
      this.note.textContent = "";
      this.note.classList.remove("show");
    }
  }

  NS.TryOnButton = TryOnButton;
})();
