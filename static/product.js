// What a try-on says about its product, for the archive tiles and the side-by-side view: the
// title, shop and price the extension sent in `metadata`, and a safe link back to the shop's page.
// Both draw them with productOf and productTitle, so a tile and the view cannot say it differently.

import { h } from "./dom.js";

const CATEGORY_NAMES = { upper: "Top", lower: "Bottom", dress: "Dress" };

export function categoryName(category) {
  return CATEGORY_NAMES[category] || category;
}

/** The text of a metadata value, or "" (rows stored before the server checked these keys may hold anything). */
function text(value) {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return typeof value === "string" ? value.replace(/\s+/g, " ").trim() : "";
}

/**
 * page_url as a link target, only when it is http(s): the server checks it on the way in, and this
 * holds for anything that got in some other way (a javascript: link must never become clickable).
 * @returns {URL | null}
 */
export function productPage(session) {
  try {
    const url = new URL(session.page_url);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

/** "€29.95" from ("29.95", "EUR") in the reader's locale; a price that is already text stays as the shop wrote it. */
export function formatPrice(price, currency) {
  const amount = text(price);
  if (!amount) return "";
  const code = text(currency).toUpperCase();
  if (/^\d+([.,]\d{1,2})?$/.test(amount) && /^[A-Z]{3}$/.test(code)) {
    try {
      return new Intl.NumberFormat(undefined, { style: "currency", currency: code }).format(Number(amount.replace(",", ".")));
    } catch {
      // an unknown currency code: shown as sent, below
    }
  }
  return code && /^[\d.,\s]+$/.test(amount) ? `${amount} ${code}` : amount;
}

/**
 * @returns {{title: string, shop: string, price: string, details: string, page: URL | null, label: string}}
 *   `details` is "shop · price" (either alone, or ""); `label` names the try-on in one line: its
 *   title, else its category.
 */
export function productOf(session) {
  const meta = session.metadata && typeof session.metadata === "object" ? session.metadata : {};
  const page = productPage(session);
  const title = text(meta.title);
  // the shop's own name when the page stated it, else the address it came from
  const shop = text(meta.shop) || (page ? page.hostname.replace(/^www\./, "") : "");
  const price = formatPrice(meta.price, meta.currency);
  return {
    title, shop, price, details: [shop, price].filter(Boolean).join(" · "), page,
    label: title || categoryName(session.category),
  };
}

/**
 * `words` (the product's title by default) as a link to its page in a new tab when the page is a
 * safe one, else as text; null when there are no words. A long title is cut by the CSS, so the
 * whole of it is in the tooltip.
 * @param {ReturnType<typeof productOf>} product @param {string} className @param {string} [words]
 */
export function productTitle(product, className, words = product.title) {
  if (product.page) {
    return h("a", {
      class: className, href: product.page.href, target: "_blank", rel: "noopener noreferrer",
      title: `${words}: the product page at ${product.shop} (new tab)`,
    }, words, h("span", { "aria-hidden": "true" }, " ↗"));
  }
  return words ? h("span", { class: className, title: words }, words) : null;
}
