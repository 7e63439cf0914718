// The archive: finished try-ons, newest first, a page at a time; each with its garment and what
// the shop page said about it; up to four chosen to see side by side.

import { api } from "./api.js";
import { $, busy, formatTime, fromNow, h, toast } from "./dom.js";
import { errorText } from "./errors.js";
import { categoryName, productOf, productTitle } from "./product.js";
import { MAX_COMPARE, openSideBySide } from "./sidebyside.js";
import { emptyArchive, state } from "./state.js";
import { deleteSession, showResult, toggleKeep } from "./tryon.js";

const ARCHIVE_PAGE = 8;

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

/** Loads the archive again: from its first page, or (stay) the page shown. The try-ons chosen
 *  for comparison that the server no longer has (deleted with their profile, in another tab) are
 *  let go, so the count under the archive is what "Compare" will show. */
export async function refreshArchive({ stay = false } = {}) {
  if (!stay) state.archive = emptyArchive();
  try {
    await loadArchivePage();
    // those on the page shown are there; one on another page is asked for
    const shown = new Set(state.archive.items.map((s) => s.session_id));
    if ((await refreshChosen([...chosen.keys()].filter((id) => !shown.has(id)))).length) renderArchive();
  } catch (err) {
    $("archive-note").textContent = errorText(err);
  }
}

export function renderArchive() {
  const a = state.archive;
  syncChosen(a);
  $("archive-grid").replaceChildren(...a.items.map(renderTile));
  $("archive-empty").hidden = a.items.length > 0;
  const paged = a.page > 0 || Boolean(a.next);
  $("archive-pager").hidden = !paged;
  $("archive-newer").disabled = a.page === 0;
  $("archive-older").disabled = !a.next;
  $("archive-page").textContent = `Page ${a.page + 1}`;
  renderCompareBar();
  markCurrentTile();
}

function renderTile(session) {
  const when = formatTime(session.created_at);
  const product = productOf(session);
  const name = product.title ? `${product.title} (${when})` : `the try-on of ${when}`;
  const open = () => {
    showResult(session);
    $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
  };
  const expiry = session.kept || !session.expires_at
    ? h("span", { class: "tile-expiry kept" }, "✓ Kept")
    : h("span", { class: "tile-expiry", title: `Deletes itself ${fromNow(session.expires_at)}` },
        `Deletes ${formatTime(session.expires_at)}`);
  const title = productTitle(product, "tile-title", product.title || (product.page ? "Product page" : ""));
  const picked = chosen.has(session.session_id);
  return h("li", { class: "tile", dataset: { sessionId: session.session_id } },
    // the picture opens it too, for the mouse; the "Open" button is the labelled control
    h("div", { class: "tile-pics" },
      h("div", { class: "tile-open", onclick: open },
        h("img", { src: session.result_url, alt: product.title ? `You in ${product.title}` : `Try-on of ${when}`, loading: "lazy" })),
      session.garment_image_url && h("img", {
        class: "tile-garment", src: session.garment_image_url, loading: "lazy",
        alt: product.title ? `The garment: ${product.title}` : "The garment",
      })),
    h("div", { class: "tile-meta" },
      title,
      product.details && h("span", { class: "tile-shop" }, product.details),
      h("span", { class: "tile-when" },
        h("span", { class: "chip" }, categoryName(session.category)),
        h("span", { class: "tile-date" }, when)),
      expiry),
    h("label", { class: "tile-pick" },
      h("input", {
        type: "checkbox", checked: picked, disabled: !picked && chosen.size >= MAX_COMPARE,
        "aria-label": `Compare ${name}`,
        onchange: (event) => choose(session, event.currentTarget.checked),
      }),
      h("span", { "aria-hidden": "true" }, "Compare")),
    h("div", { class: "tile-actions" },
      h("button", { type: "button", class: "button small", "aria-label": `Open ${name}`, onclick: open }, "Open"),
      h("button", {
        type: "button", class: "button small ghost", "aria-pressed": String(session.kept),
        "aria-label": `${session.kept ? "Unkeep" : "Keep"} ${name}`,
        onclick: (event) => toggleKeep(session, event.currentTarget),
      }, session.kept ? "Unkeep" : "Keep"),
      h("button", {
        type: "button", class: "button small ghost danger-text", "aria-label": `Delete ${name}`,
        onclick: async () => {
          await deleteSession(session);
          // gone from its own page means deleted (a deletion moves only the try-ons after it)
          if (chosen.has(session.session_id) && !state.archive.items.some((s) => s.session_id === session.session_id)) {
            chosen.delete(session.session_id);
            renderArchive();
          }
        },
      }, "Delete")));
}

// ---- choosing 2 to 4 try-ons to see side by side (sidebyside.js draws them) ----

/** id -> session, in the order chosen; kept across archive pages and refreshes. */
const chosen = new Map();

/** Fresh copies of the chosen sessions the page shows (their signed links renew with each load). */
function syncChosen(a) {
  for (const session of a.items) {
    if (chosen.has(session.session_id)) chosen.set(session.session_id, session);
  }
}

function choose(session, on) {
  if (on && chosen.size < MAX_COMPARE) chosen.set(session.session_id, session);
  else chosen.delete(session.session_id);
  renderCompareBar();
  // at the limit, the rest cannot be ticked (and say why)
  for (const box of /** @type {NodeListOf<HTMLInputElement>} */ (document.querySelectorAll(".tile-pick input"))) {
    box.disabled = !box.checked && chosen.size >= MAX_COMPARE;
    box.title = box.disabled ? `At most ${MAX_COMPARE} at once` : "";
  }
}

function renderCompareBar() {
  const count = chosen.size;
  const total = state.archive.items.length + (state.archive.page > 0 || state.archive.next ? 1 : 0);
  $("compare-bar").hidden = total < 2 && count === 0;
  $("compare-count").textContent = count === 0
    ? `Tick 2 to ${MAX_COMPARE} try-ons to see them side by side.`
    : count === 1 ? "1 chosen: tick at least one more."
      : `${count} chosen${count === MAX_COMPARE ? " (the most at once)" : ""}.`;
  $("compare-open").disabled = count < 2;
  $("compare-clear").hidden = count === 0;
  const profile = chosenProfile();
  const latest = $("compare-latest");
  latest.hidden = count > 0 || total < 2 || !profile;
  // a long name is cut with an ellipsis (the span), not folded onto three lines
  const words = `Latest of ${profile?.name || "your photo"}`;
  latest.replaceChildren(h("span", { class: "compare-latest-label" }, words));
  latest.title = words;
}

function chosenProfile() {
  return state.profiles.find((p) => p.profile_id === state.selectedProfileId) || null;
}

/** The newest (up to MAX_COMPARE) finished try-ons of one profile: the archive read newest first,
 *  a page of 100 at a time, until they are found or it ends (another photo's hundred newer ones
 *  must not hide them). */
async function latestOf(profileId) {
  const found = [];
  let cursor;
  do {
    const page = await api.archive(100, cursor);
    found.push(...page.items.filter((s) => s.profile_id === profileId));
    cursor = page.next_cursor;
  } while (found.length < MAX_COMPARE && cursor);
  return found.slice(0, MAX_COMPARE);
}

/** The other way to compare: the newest try-ons of the photo chosen in step 1, no ticking needed. */
async function compareLatest(button) {
  const profile = chosenProfile();
  if (!profile) return;
  const latest = await latestOf(profile.profile_id);
  if (latest.length < 2) {
    toast(`${profile.name || "This photo"} has ${latest.length ? "only one try-on" : "no try-ons"} yet: try on another garment first.`);
    return;
  }
  openSideBySide(latest, button);
}

function clearChosen() {
  chosen.clear();
  renderArchive();
}

/** Asks the server for these chosen try-ons: fresh copies of those it has (their signed links
 *  renewed; the order chosen stays), the rest let go. Returns the ids let go. */
async function refreshChosen(ids) {
  const fresh = await Promise.all(ids.map((id) => api.getSession(id).catch((err) => {
    if (err.status === 404) return null;
    throw err;
  })));
  const gone = ids.filter((_, i) => !fresh[i]);
  for (const id of gone) chosen.delete(id);
  for (const session of fresh) if (session && chosen.has(session.session_id)) chosen.set(session.session_id, session);
  return gone;
}

/** Forgets the try-ons chosen for comparison (all data deleted). */
export function forgetChosen() {
  chosen.clear();
}

/** Opens the side-by-side view with the chosen try-ons as the server has them now: a profile
 *  or a try-on deleted elsewhere (the stage, another tab) since it was ticked is left out. */
async function compareChosen(button) {
  const gone = await refreshChosen([...chosen.keys()]);
  renderArchive();
  if (chosen.size < 2) {
    toast(`${gone.length === 1 ? "One of them was" : "Some of them were"} deleted meanwhile: tick at least two.`);
    return;
  }
  if (gone.length) toast(`${gone.length} of the try-ons you ticked ${gone.length === 1 ? "was" : "were"} deleted meanwhile.`);
  openSideBySide([...chosen.values()], button);
}

$("compare-open").addEventListener("click", (event) => {
  const button = event.currentTarget;
  busy(button, () => compareChosen(button)).catch((err) => toast(errorText(err))).finally(renderCompareBar);
});
$("compare-clear").addEventListener("click", clearChosen);
$("compare-latest").addEventListener("click", (event) => {
  const button = event.currentTarget;
  busy(button, () => compareLatest(button)).catch((err) => toast(errorText(err)));
});
// "Latest of <name>" follows the photo chosen in step 1: the profiles load alongside the archive
// and profiles.js redraws its list whenever one is added, chosen or deleted
new MutationObserver(() => renderCompareBar()).observe($("profile-list"), { childList: true });

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
