// What the page states about the product: title, shop, price, currency, brand (sent with the try-on so
// the shopper's archive says what they tried), and a guess of the garment category.
(() => {
  const NS = (globalThis.__tryOn ||= {});
  const SYMBOLS = { "€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR", "kr": "SEK", "zł": "PLN", "CHF": "CHF" };

  const text = (el) => (el ? (el.getAttribute("content") || el.textContent || "").replace(/\s+/g, " ").trim() : "");
  const str = (v) => (v === undefined || v === null ? null : String(v).trim() || null);

  function offerOf(product) {
    const offers = Array.isArray(product?.offers) ? product.offers[0] : product?.offers;
    if (!offers || typeof offers !== "object") return {};
    const spec = Array.isArray(offers.priceSpecification) ? offers.priceSpecification[0] : offers.priceSpecification;
    return {
      price: str(offers.price ?? offers.lowPrice ?? spec?.price),
      currency: str(offers.priceCurrency ?? spec?.priceCurrency),
    };
  }

  function brandOf(product) {
    const brand = Array.isArray(product?.brand) ? product.brand[0] : product?.brand;
    return str(typeof brand === "object" ? brand?.name : brand);
  }

  /** A price printed on the page ("€29.95", "29,95 EUR") when nothing structured states it. */
  function visiblePrice() {
    const el = document.querySelector(
      "[itemprop='price'], [data-testid*='price' i], [class*='price' i]:not([class*='compare' i]):not([class*='was' i])",
    );
    const value = text(el);
    if (!value || value.length > 40 || !/\d/.test(value)) return {};
    const symbol = Object.keys(SYMBOLS).find((s) => value.includes(s));
    const currency = text(document.querySelector("[itemprop='priceCurrency']")) || (symbol ? SYMBOLS[symbol] : null);
    return { price: value, currency };
  }

  /** The shop's own name as the page states it (not guessed from the address: the demo page
   *  falls back to the page's host itself). */
  function shopOf(product) {
    const offers = Array.isArray(product?.offers) ? product.offers[0] : product?.offers;
    const seller = Array.isArray(offers?.seller) ? offers.seller[0] : offers?.seller;
    return NS.detect.meta("og:site_name") || NS.detect.meta("application-name") ||
      str(typeof seller === "object" ? seller?.name : seller);
  }

  /** @returns {{title?: string, shop?: string, price?: string, currency?: string, brand?: string}} */
  function extractMetadata(product) {
    const { meta } = NS.detect;
    const offer = offerOf(product);
    const shown = offer.price ? {} : visiblePrice();
    const out = {
      title: str(product?.name) || meta("og:title") || text(document.querySelector("h1")) || str(document.title),
      shop: shopOf(product),
      price: offer.price || meta("product:price:amount") || meta("og:price:amount") || shown.price || null,
      currency: offer.currency || meta("product:price:currency") || meta("og:price:currency") || shown.currency || null,
      brand: brandOf(product) || meta("product:brand") || meta("og:brand") ||
        text(document.querySelector("[itemprop='brand'] [itemprop='name'], [itemprop='brand'], [data-testid*='brand' i]")) || null,
    };
    return Object.fromEntries(Object.entries(out).filter(([, v]) => v));
  }

  const DRESS = /\b(dress|dresses|gown|jumpsuit|playsuit|robe|kleid|vestido|abito)\b/i;
  const LOWER = /\b(trousers?|pants|jeans|chinos?|joggers?|leggings|shorts|skirts?|culottes|hose|pantalon|pantalones|falda|jupe)\b/i;

  /** upper, lower or dress from the product's words; the popup lets the shopper correct it. */
  function guessCategory(metadata) {
    const crumbs = text(document.querySelector("[class*='breadcrumb' i], nav[aria-label*='breadcrumb' i]"));
    for (const words of [metadata.title || "", crumbs]) { // the title outranks the breadcrumbs
      if (DRESS.test(words)) return "dress";
      if (LOWER.test(words)) return "lower";
    }
    return "upper";
  }

  NS.metadata = { extractMetadata, guessCategory };
})();
