// Side by side: two to four try-ons from the archive next to each other, all drawn at one height,
// so the same photo of you is at the same scale in each and only the garments differ. A modal
// dialog: Escape or "Close" ends it and focus goes back to the button that opened it.
// (Not to be confused with compare.js, the before/after slider of one result.)

import { $, formatTime, h } from "./dom.js";
import { categoryName, productOf, productTitle } from "./product.js";

export const MAX_COMPARE = 4;
const GAP_PX = 12;
// below this width the results go two to a row (a phone), above it all in one row
const ONE_ROW_MIN_PX = 600;

const dialog = $("sidebyside-dialog");
const row = $("sidebyside-row");

function figure(session) {
  const product = productOf(session);
  const when = formatTime(session.created_at);
  const result = h("img", {
    class: "sbs-result", src: session.result_url, alt: `You in ${product.title || `the ${product.label.toLowerCase()}`} (${when})`,
    onload: fit,
    onerror: () => {
      result.replaceWith(h("p", { class: "sbs-gone" }, "This try-on is no longer on this computer."));
      fit();
    },
  });
  return h("figure", { class: "sbs-item", dataset: { sessionId: session.session_id } },
    result,
    h("figcaption", {},
      session.garment_image_url && h("img", { class: "sbs-garment", src: session.garment_image_url, alt: "" }),
      h("span", { class: "sbs-text" },
        productTitle(product, "sbs-title", product.label),
        product.details && h("span", { class: "sbs-details" }, product.details),
        // the category, unless the title line already is it
        h("span", { class: "sbs-when" }, product.title ? `${categoryName(session.category)} · ${when}` : when))));
}

/** One height for every result: the most at which each row of them fits the dialog's width
 *  (and the screen's height), each result as wide as its own proportions ask at that height. */
function fit() {
  if (!dialog.open) return;
  const items = /** @type {HTMLElement[]} */ ([...row.children]);
  const width = row.clientWidth;
  const perRow = width < ONE_ROW_MIN_PX ? 2 : items.length;
  const ratios = items.map((item) => {
    const img = /** @type {HTMLImageElement | null} */ (item.querySelector(".sbs-result"));
    return img && img.naturalWidth && img.naturalHeight ? img.naturalWidth / img.naturalHeight : 3 / 4;
  });
  let height = window.innerHeight * (items.length > perRow ? 0.4 : 0.66);
  for (let i = 0; i < ratios.length; i += perRow) {
    const chunk = ratios.slice(i, i + perRow);
    const sum = chunk.reduce((a, b) => a + b, 0);
    height = Math.min(height, (width - GAP_PX * (chunk.length - 1)) / sum);
  }
  height = Math.max(80, Math.floor(height));
  items.forEach((item, i) => {
    const w = Math.floor(height * ratios[i]);
    item.style.width = `${w}px`;
    const img = /** @type {HTMLImageElement | null} */ (item.querySelector(".sbs-result"));
    if (img) {
      img.style.width = `${w}px`;
      img.style.height = `${height}px`;
    }
  });
}

/** @param {object[]} sessions 2 to MAX_COMPARE archive sessions @param {HTMLElement} [opener] */
export function openSideBySide(sessions, opener) {
  const shown = sessions.slice(0, MAX_COMPARE);
  row.replaceChildren(...shown.map(figure));
  row.dataset.count = String(shown.length);
  $("sidebyside-title").textContent = `${shown.length} try-ons side by side`;
  dialog.showModal();
  fit();
  $("sidebyside-close").focus();
  dialog.addEventListener("close", () => {
    row.replaceChildren(); // lets go of the images
    opener?.focus();
  }, { once: true });
}

$("sidebyside-close").addEventListener("click", () => dialog.close());
// a click on the dimmed backdrop closes it too (the dialog's content fills it, so only the
// backdrop's clicks land on the dialog element itself)
dialog.addEventListener("click", (event) => {
  if (event.target === dialog) dialog.close();
});
window.addEventListener("resize", fit);
