// The archive: finished try-ons, newest first, a page at a time.

import { api } from "./api.js";
import { $, formatTime, fromNow, h } from "./dom.js";
import { errorText } from "./errors.js";
import { emptyArchive, state } from "./state.js";
import { deleteSession, showResult, toggleKeep } from "./tryon.js";

const ARCHIVE_PAGE = 8;
const CATEGORY_NAMES = { upper: "Top", lower: "Bottom", dress: "Dress" };

async function loadArchivePage() {
  const a = state.archive;
  const page = await api.archive(ARCHIVE_PAGE, a.cursors[a.page]);
  if (!page.items.length && a.page > 0) {
    // the last item of this page was deleted: step back a page
    a.page -= 1;
    return loadArchivePage();
  }
  a.items = page.items;
  a.next = page.next_cursor;
  a.cursors.length = a.page + 1;
  if (a.next) a.cursors.push(a.next);
  renderArchive();
}

export async function refreshArchive({ stay = false } = {}) {
  if (!stay) state.archive = emptyArchive();
  try {
    await loadArchivePage();
  } catch (err) {
    $("archive-note").textContent = errorText(err);
  }
}

export function renderArchive() {
  const a = state.archive;
  $("archive-grid").replaceChildren(...a.items.map((session) => {
    const when = formatTime(session.created_at);
    const open = () => {
      showResult(session);
      $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
    };
    const expiry = session.kept || !session.expires_at
      ? h("span", { class: "tile-expiry kept" }, "✓ Kept")
      : h("span", { class: "tile-expiry", title: `Deletes itself ${fromNow(session.expires_at)}` },
          `Deletes ${formatTime(session.expires_at)}`);
    return h("li", { class: "tile", dataset: { sessionId: session.session_id } },
      // the picture opens it too, for the mouse; the "Open" button is the labelled control
      h("div", { class: "tile-open", onclick: open },
        h("img", { src: session.result_url, alt: `Try-on of ${when}`, loading: "lazy" })),
      h("div", { class: "tile-meta" },
        h("span", { class: "tile-date" }, when),
        h("span", { class: "chip" }, CATEGORY_NAMES[session.category] || session.category),
        expiry),
      h("div", { class: "tile-actions" },
        h("button", { type: "button", class: "button small", "aria-label": `Open the try-on of ${when}`, onclick: open }, "Open"),
        h("button", {
          type: "button", class: "button small ghost", "aria-pressed": String(session.kept),
          "aria-label": `${session.kept ? "Unkeep" : "Keep"} the try-on of ${when}`,
          onclick: (event) => toggleKeep(session, event.currentTarget),
        }, session.kept ? "Unkeep" : "Keep"),
        h("button", {
          type: "button", class: "button small ghost danger-text", "aria-label": `Delete the try-on of ${when}`,
          onclick: () => deleteSession(session),
        }, "Delete")));
  }));
  $("archive-empty").hidden = a.items.length > 0;
  const paged = a.page > 0 || Boolean(a.next);
  $("archive-pager").hidden = !paged;
  $("archive-newer").disabled = a.page === 0;
  $("archive-older").disabled = !a.next;
  $("archive-page").textContent = `Page ${a.page + 1}`;
  markCurrentTile();
}

export function markCurrentTile() {
  const tiles = /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".tile"));
  for (const tile of tiles) {
    tile.dataset.current = String(tile.dataset.sessionId === state.shown?.session_id);
  }
}

export async function turnArchivePage(delta) {
  state.archive.page = Math.max(0, state.archive.page + delta);
  await refreshArchive({ stay: true });
  $("archive-section").scrollIntoView({ behavior: "smooth", block: "start" });
}
