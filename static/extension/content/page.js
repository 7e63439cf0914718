//# allFunctionsCalledOnLoad
// (The line above asks V8 to compile every function of this file when it is injected, not on first
// call: the first detection on a page then runs compiled code. See README.md, "What it costs".)
// What the page says about itself: its schema.org Product (JSON-LD or microdata), the pictures its
// structured data names, its title on screen, and whether it is a product page at all.
//
// The product-page gate weighs signals instead of trusting any single one: a podcast page with
// og:type "product.item" or a news article with one "Buy now" link is not a shop, while a plain
// shop page whose only signs are a price printed next to its title and a big picture is one.
(() => {
  const NS = (globalThis.__tryOn ||= {});
  const { absolute } = NS.urls;

  const ADD_TO_CART = /\b(add to (bag|cart|basket|trolley)|add to shopping (bag|cart)|buy now|buy it now|in den warenkorb|ajouter au panier|añadir a la (cesta|bolsa)|aggiungi al carrello|in winkelwagen|lägg i varukorgen|dodaj do koszyka|adicionar ao carrinho)\b/i;
  // schema.org types of pages that show a work, a person or a list, not a product for sale.
  const NOT_A_SHOP_TYPE = /(^|[/#:])(Article|NewsArticle|BlogPosting|Blog|Report|ScholarlyArticle|LiveBlogPosting|AudioObject|VideoObject|PodcastEpisode|PodcastSeries|MusicRecording|MusicAlbum|MusicPlaylist|Movie|TVSeries|TVEpisode|Episode|ProfilePage|Person|SocialMediaPosting|DiscussionForumPosting|Recipe|CollectionPage|SearchResultsPage|QAPage|FAQPage)$/;
  const CURRENCY = "(?:[$€£¥₹₩₽₺₪฿₫₱]|R\\$|US\\$|C\\$|A\\$|kr\\.?|zł|Kč|Ft|lei|лв|руб\\.?|원|円|元|CHF|EUR|USD|GBP|SEK|NOK|DKK|PLN|CZK|JPY|CAD|AUD|INR|KRW|RUB|BRL|MXN|TRY)";
  const AMOUNT = "\\d{1,3}(?:[.,\\s\\u00a0\\u202f]\\d{3})*(?:[.,]\\d{1,2})?|\\d+(?:[.,]\\d{1,2})?";
  // A price and little else ("€ 29,95", "$1,299.00", "29.95 EUR", "From £20"): what a shop prints under its title.
  const PRICE_ONLY = new RegExp(`^(?:from|ab|à partir de|desde|now|sale|price:?)?\\s*(?:${CURRENCY}\\s*(?:${AMOUNT})|(?:${AMOUNT})\\s*${CURRENCY})\\s*[*~]?$`, "i");
  const CHROME_REGIONS = "header, nav, footer, [role='banner'], [role='navigation'], [role='contentinfo']";

  const types = (node) => (Array.isArray(node?.["@type"]) ? node["@type"] : [node?.["@type"]]).filter((t) => typeof t === "string");
  const isProductType = (node) => types(node).some((t) => /(^|[/#:])(Product|ProductGroup|IndividualProduct|ProductModel|SomeProducts|Vehicle|Car)$/.test(t));

  /** Every node of every JSON-LD block (arrays, @graph and nesting included); broken blocks are skipped. */
  function jsonLdNodes() {
    const nodes = [];
    for (const script of document.querySelectorAll('script[type="application/ld+json" i]')) {
      let data;
      try {
        data = JSON.parse(script.textContent);
      } catch {
        continue; // shops do ship broken JSON-LD
      }
      const stack = [{ node: data, inList: false }];
      while (stack.length && nodes.length < 2000) {
        const { node, inList } = stack.shift();
        if (Array.isArray(node)) stack.push(...node.map((n) => ({ node: n, inList })));
        else if (node && typeof node === "object") {
          nodes.push({ node, inList });
          const list = types(node).some((t) => /ItemList|OfferCatalog/.test(t));
          for (const value of Object.values(node)) if (value && typeof value === "object") stack.push({ node: value, inList: inList || list });
        }
      }
    }
    return nodes;
  }

  /**
   * The page's own schema.org Product in JSON-LD: not one listed inside an ItemList (a grid of
   * other products); the one whose url is this page if several are, else the first.
   */
  function jsonLdProduct(nodes = jsonLdNodes()) {
    const products = nodes.filter(({ node, inList }) => !inList && isProductType(node)).map(({ node }) => node);
    const here = location.href.split(/[?#]/)[0];
    const own = products.find((p) => typeof p.url === "string" && absolute(p.url)?.split(/[?#]/)[0] === here);
    return own || products[0] || null;
  }

  function imageUrlsOf(value) {
    const raw = Array.isArray(value) ? value : value ? [value] : [];
    return raw
      .map((item) => (typeof item === "string" ? item : item?.contentUrl || item?.url || item?.["@id"]))
      .map((url) => (typeof url === "string" ? absolute(url) : null))
      .filter(Boolean);
  }

  // The page's <meta> tags by property/name, read once per detection (each lookup would otherwise
  // scan the whole document for a tag that is usually not there). Outside a detection: read live.
  let metaCache = null;

  function metaTags() {
    const map = new Map();
    for (const el of document.querySelectorAll("meta[property], meta[name]")) {
      for (const key of [el.getAttribute("property"), el.getAttribute("name")]) {
        if (key && !map.has(key)) map.set(key, el.getAttribute("content")?.trim() || null);
      }
    }
    return map;
  }

  function meta(property) {
    return (metaCache || metaTags()).get(property) || null;
  }

  /** Run `fn` with the page's meta tags read once (or as `tags`, read by metaTags() before). */
  function withMetaTags(fn, tags = metaTags()) {
    metaCache = tags;
    try {
      return fn();
    } finally {
      metaCache = null;
    }
  }

  /** The schema.org Product in microdata that is this page's (it holds the page's title), or null: grids of recommended items are products too. */
  function microdataProduct(title) {
    const scopes = [...document.querySelectorAll("[itemscope][itemtype*='schema.org/Product' i]")];
    if (!scopes.length) return null;
    if (title) return scopes.find((s) => s.contains(title)) || null;
    return scopes.length === 1 ? scopes[0] : null;
  }

  function microdataImages(scope) {
    if (!scope) return [];
    const urls = [];
    for (const el of scope.querySelectorAll("[itemprop~='image']")) {
      if (el.closest("[itemscope]") !== scope && el.closest("[itemscope]") !== el) continue; // a nested item's picture
      const raw = el.getAttribute("content") || el.getAttribute("href") || el.getAttribute("src") || el.getAttribute("data-src") || "";
      const abs = absolute(raw);
      if (abs) urls.push(abs);
    }
    return urls;
  }

  function isVisible(el) {
    // Not checkOpacity: anti-flicker snippets keep the whole <body> transparent until the page is ready.
    if (el.checkVisibility && !el.checkVisibility({ checkVisibilityCSS: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }

  const words = (text) => new Set(String(text || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2));

  /**
   * The product's title on screen: the visible <h1> (outside the site's header and menus) whose
   * words best match the name the page gives (JSON-LD name, og:title, <title>); its size breaks ties.
   */
  function productTitle(name) {
    const wanted = words(name || meta("og:title") || document.title);
    let best = null;
    let bestScore = -1;
    // <h1>s first; the product-name classes (a query that reads every class of the page) only when no <h1> names the product.
    const h1s = [...document.getElementsByTagName("h1")];
    const named = h1s.some((h) => [...words(h.textContent)].some((w) => wanted.has(w)));
    const others = named ? [] : document.querySelectorAll("[itemprop='name'], [class*='product-title' i], [class*='product-name' i], [class*='productName' i], [class*='productTitle' i]");
    for (const h of [...h1s, ...others]) {
      if (h.childElementCount > 8) continue; // a whole product block, not its title
      const text = (h.textContent || "").trim();
      if (!text || text.length > 300 || !isVisible(h)) continue;
      const region = h.closest(CHROME_REGIONS);
      if (region && !region.closest("main, article, [role='main']")) continue;
      const own = words(text);
      const shared = [...own].filter((w) => wanted.has(w)).length;
      const dice = own.size + wanted.size ? (2 * shared) / (own.size + wanted.size) : 0;
      const score = dice * 10 + (h.tagName === "H1" ? 3 : 0) + Math.min(parseFloat(getComputedStyle(h).fontSize) || 0, 60) / 10;
      if (score > bestScore) [best, bestScore] = [h, score];
    }
    return best;
  }

  /** A price printed next to the title: an element near it whose whole text is a price. */
  function priceNearTitle(title) {
    if (!title) return null;
    let scope = title;
    for (let i = 0; i < 4 && scope.parentElement && scope.parentElement !== document.body; i += 1) scope = scope.parentElement;
    let seen = 0;
    const walker = document.createTreeWalker(scope, NodeFilter.SHOW_ELEMENT);
    for (let el = walker.nextNode(); el && seen < 600; el = walker.nextNode(), seen += 1) {
      if (el.childElementCount > 3) continue;
      const text = el.textContent;
      if (!text || text.length > 40) continue;
      const clean = text.replace(/\s+/g, " ").trim();
      if (clean && PRICE_ONLY.test(clean) && isVisible(el)) {
        const t = title.getBoundingClientRect();
        const p = el.getBoundingClientRect();
        if (Math.abs(p.top - t.bottom) < 600) return clean;
      }
    }
    return null;
  }

  const PRODUCT_PAGE_SCORE = 3;
  const BIG_PICTURE_WEIGHT = 1;

  /** A form that adds to the cart: the page's forms by their action, the named controls by their index. */
  function hasCartForm() {
    return [...document.forms].some((form) => /cart|basket|warenkorb/i.test(form.getAttribute("action") || ""))
      || document.getElementsByName("add-to-cart").length > 0 || document.querySelector("[data-add-to-cart]") !== null;
  }

  /**
   * Whether this is a product page, as a sum of weighed signals (PRODUCT_PAGE_SCORE or more is a
   * product page), with each signal named: {isProductPage, score, signals: [{signal, weight}]}.
   * detect.js adds the one signal that needs the pictures: a big one next to the title
   * (BIG_PICTURE_WEIGHT), and skips looking at the pictures when even that could not make it one.
   * A generator (the answer is its return value: `yield* productPageSignals(...)`) that may be
   * paused between its costlier reads, as detection is on a big page.
   */
  function* productPageSignals({ product, nodes, title }) {
    const signals = [];
    const add = (signal, weight) => signals.push({ signal, weight });
    const sum = () => signals.reduce((total, s) => total + s.weight, 0);
    // 1. what the page declares (cheap reads; the negative signals are all here)
    if (product) add(product.offers ? "JSON-LD Product with offers" : "JSON-LD Product", product.offers ? 4 : 3);
    const ogType = meta("og:type") || "";
    if (/product/i.test(ogType)) add(`og:type ${ogType}`, 2);
    if (/^(article|video|music|profile|book)/i.test(ogType)) add(`og:type ${ogType}`, -2);
    const editorial = nodes.map(({ node }) => types(node).find((t) => NOT_A_SHOP_TYPE.test(t))).find(Boolean);
    if (editorial && !product) add(`JSON-LD ${editorial}`, -3);
    const priceMeta = ["product:price:amount", "og:price:amount", "product:price", "og:price", "product:sale_price:amount"].find(meta);
    if (priceMeta) add(`${priceMeta} meta`, 3);
    const micro = microdataProduct(title);
    if (micro) add("microdata Product around the title", 3);
    else if (document.querySelector("[itemscope][itemtype*='schema.org/Product' i]")) add("microdata Product", 1);
    if (document.querySelector("[itemprop='price'], [itemprop='lowPrice']")) add("itemprop=price", 1);
    // 2. what a shopper would see: read only while the page does not count yet (they only add);
    // each costs a few milliseconds on a big page, so the caller may pause in between (a generator)
    yield;
    if (sum() < PRODUCT_PAGE_SCORE && hasCartForm()) add("cart form", 3);
    yield;
    if (sum() < PRODUCT_PAGE_SCORE) {
      const { control, link } = addToCart();
      if (control) add(`add-to-cart control "${(control.textContent.trim() || control.value).replace(/\s+/g, " ").slice(0, 30)}"`, 3);
      // An "add to cart" link is a shop's; a "Buy now" link inside an article is a review's affiliate link.
      else if (link) add(`buy link "${link.textContent.trim().replace(/\s+/g, " ").slice(0, 30)}"`, link.closest("article, [itemtype*='Article' i]") ? 0 : 1);
    }
    yield;
    const price = sum() < PRODUCT_PAGE_SCORE ? priceNearTitle(title) : null;
    if (price) add(`price next to the title "${price}"`, 2);
    const score = sum();
    return { isProductPage: score >= PRODUCT_PAGE_SCORE, score, signals };
  }

  /**
   * The first add-to-cart control (a button, an input, [role=button]) and the first such link, each
   * read as a whole ("Add to <b>bag</b>" included). Controls are few; links can be thousands (an
   * encyclopedia's article), read through the live collection, the cheapest walk over them. (The
   * page's whole text would take in its inline scripts too: a megabyte on some big shops.)
   */
  function addToCart() {
    const says = (text) => Boolean(text && text.length < 60 && ADD_TO_CART.test(text));
    for (const el of document.querySelectorAll("button, [role='button'], input[type='submit'], input[type='button']")) {
      if (says(el.tagName === "INPUT" ? el.value : el.textContent)) return { control: el, link: null };
    }
    const links = document.getElementsByTagName("a");
    for (let i = 0; i < links.length; i += 1) if (says(links[i].textContent)) return { control: null, link: links[i] };
    return { control: null, link: null };
  }

  /** The pictures the page's structured data names, best first: [{url, source, weight}]. */
  function structuredImages(product, micro) {
    const out = [];
    imageUrlsOf(product?.image).forEach((url, i) => out.push({ url, source: "json-ld", weight: Math.max(100 - 8 * i, 70) }));
    microdataImages(micro).forEach((url) => out.push({ url, source: "microdata", weight: 85 }));
    for (const [property, weight] of [["og:image", 90], ["og:image:secure_url", 90], ["og:image:url", 90], ["twitter:image", 70], ["twitter:image:src", 70]]) {
      const url = absolute(meta(property) || "");
      if (url) out.push({ url, source: property.startsWith("og:") ? "og:image" : "twitter:image", weight });
    }
    const imageSrc = absolute(document.querySelector("link[rel='image_src']")?.getAttribute("href") || "");
    if (imageSrc) out.push({ url: imageSrc, source: "image_src", weight: 70 });
    return out;
  }

  NS.page = { jsonLdNodes, jsonLdProduct, meta, metaTags, withMetaTags, microdataProduct, microdataImages, productTitle, priceNearTitle, productPageSignals, structuredImages, ADD_TO_CART, PRODUCT_PAGE_SCORE, BIG_PICTURE_WEIGHT };
})();
