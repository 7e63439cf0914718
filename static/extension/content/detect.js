// Product image detection, run on every page by the content script. Shops' DOMs differ and
// change, so it tries the most reliable signals first and only then looks at the layout:
//
//   1. JSON-LD Product.image          (what the shop tells search engines its product looks like)
//   2. <meta property="og:image">      (what it shows when the page is shared)
//   3. images inside [data-testid*="product"]   (React / Next.js shops)
//   4. images in classic product containers (.pdp-image, .product-image, .product__media, ...)
//   5. the largest visible image       (last resort)
//
// "Image" means an <img>, or an element that paints the picture as a CSS background-image (older
// Shopify themes, zoom galleries), in the page or in any open shadow root (web components such as
// <product-gallery>); all of them go through the same filters and the same ranking.
// 1 and 2 count only when a visible image on the page shows that picture (the button needs an
// image to sit next to). Lazy images (data-src, data-srcset, srcset, <picture> sources, data-bgset)
// count with their largest candidate. Icons, logos, sprites, thumbnails and banners never count,
// and a page with no sign of being a product page (structured data, a price, an add-to-cart
// button) gets none.
(() => {
  const NS = (globalThis.__tryOn ||= {});

  const MIN_SIDE = 150; // px on screen: anything smaller is a thumbnail, a swatch or an icon
  const MAX_ASPECT = 2.4; // wider (or taller) than this is a banner or a strip, not a product photo
  const NOISE = /(^|[^a-z])(logo|logos|icon|icons|sprite|sprites|favicon|avatar|badge|payment|flag|spinner|loader|swatch|swatches|thumb|thumbs|thumbnail|thumbnails|banner|hero|promo)([^a-z]|$)/i;
  const PLACEHOLDER = /(placeholder|blank|spacer|transparent|pixel|loading|lazy)[^/]*\.(gif|png|svg|webp)(\?|$)/i;
  const LAZY_ATTRS = ["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];
  const ZOOM_ATTRS = ["data-zoom", "data-zoom-image", "data-zoom-src", "data-large_image", "data-large-image", "data-full", "data-fullsize"];
  const PRODUCT_CONTAINERS = [
    ".pdp-image", ".pdp-images", ".pdp-gallery", ".product-image", ".product-images", ".product-img",
    ".product__media", ".product__media-item", ".product-media", ".product-gallery", ".product-photo",
    ".product-photos", ".product-single__photo", ".product-single__media", ".woocommerce-product-gallery",
    "#product-gallery", "#product-image", "#productImage", "#main-image", "#imgTagWrapperId",
    "[itemprop='image']", "[data-product-image]", "[data-product-media]",
    "[class*='ProductImage']", "[class*='product-image']", "[class*='productImage']", "[class*='ProductMedia']",
  ].join(",");
  // Lazy-loaders' attributes for backgrounds (lazysizes' bgset, vanilla-lazyload, lozad). Only these
  // make an element that paints nothing yet a candidate; data-src counts once it paints a picture.
  // (Not the <img> list: on a <div> or a card, data-url and friends are usually a link, not a picture.)
  const BG_SRCSET_ATTRS = ["data-bgset"];
  const BG_PENDING_ATTRS = ["data-bgset", "data-bg", "data-background", "data-background-image", "data-bg-src"];
  const BG_LAZY_ATTRS = ["data-bg", "data-background", "data-background-image", "data-bg-src", "data-src"];
  // Elements that never paint a product picture as their background: the page itself, media, ours.
  const NOT_BACKGROUNDS = new Set(["HTML", "BODY", "IMG", "PICTURE", "SOURCE", "VIDEO", "IFRAME", "CANVAS", "SCRIPT",
    "STYLE", "LINK", "META", "NOSCRIPT", "TEMPLATE", "INPUT", "BUTTON", "SELECT", "TEXTAREA", "TRYON-EXTENSION-BUTTON"]);
  const MAX_TEXT_ON_PICTURE = 60; // more text than a badge or a hidden label: a banner or a section, not a photo
  const CHROME_REGIONS = "header, nav, footer, [role='banner'], [role='navigation'], [role='contentinfo']";
  const ADD_TO_CART = /\b(add to (bag|cart|basket)|buy now|add to shopping bag|in den warenkorb|ajouter au panier|añadir a la cesta|aggiungi al carrello)\b/i;

  // ---- URLs --------------------------------------------------------------------------------

  function absolute(url) {
    if (typeof url !== "string" || !url.trim()) return null; // new URL("", base) would be the page itself
    try {
      const u = new URL(url, document.baseURI);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch {
      return null;
    }
  }

  function isPlaceholder(url) {
    return !url || url.startsWith("data:") || url.startsWith("blob:") || PLACEHOLDER.test(url);
  }

  /** srcset entries as {url, w}; `w` is the width descriptor, or density × the shown width. */
  function parseSrcset(text, shownWidth) {
    const out = [];
    let rest = String(text || "").trim();
    while (rest) {
      const m = rest.match(/^(\S+)\s*/);
      if (!m) break;
      let url = m[1];
      rest = rest.slice(m[0].length);
      let descriptor = "";
      if (url.endsWith(",")) {
        url = url.slice(0, -1);
      } else {
        const d = rest.match(/^([^,]*),?\s*/);
        descriptor = d[1].trim();
        rest = rest.slice(d[0].length);
      }
      let w = shownWidth || 1;
      // "1200w", "2x", or lazysizes' bgset "1200w 1440h": the width or density is what ranks them.
      const tokens = descriptor.split(/\s+/);
      const wm = tokens.map((t) => t.match(/^(\d+(?:\.\d+)?)w$/)).find(Boolean);
      const xm = tokens.map((t) => t.match(/^(\d+(?:\.\d+)?)x$/)).find(Boolean);
      if (wm) w = parseFloat(wm[1]);
      else if (xm) w = parseFloat(xm[1]) * (shownWidth || 1);
      const abs = absolute(url);
      if (abs && !isPlaceholder(abs)) out.push({ url: abs, w });
    }
    return out;
  }

  /** lazysizes' data-bgset: srcset lists separated by "|", each with an optional "[media query]". */
  function parseBgset(text, shownWidth) {
    return String(text || "").split("|").flatMap((part) => parseSrcset(part.replace(/\[[^\]]*\]/g, " "), shownWidth));
  }

  /** The url(...) addresses in a CSS background-image value (layers, image-set, quotes); gradients are none. */
  function cssUrls(value) {
    const out = [];
    for (const m of String(value || "").matchAll(/url\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^)]*?))\s*\)/g)) {
      const raw = (m[1] ?? m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
      const abs = absolute(raw);
      if (abs && !isPlaceholder(abs)) out.push(abs);
    }
    return out;
  }

  /** The shop's own "full size" addresses (zoom attributes): they beat any srcset width. */
  function zoomSources(el) {
    const found = [];
    for (const attr of ZOOM_ATTRS) {
      const abs = absolute(el.getAttribute(attr) || "");
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: Number.MAX_SAFE_INTEGER });
    }
    return found;
  }

  /** Addresses from lazy-loading attributes, ranked just above what is shown now. */
  function lazySources(el, attrs, shown) {
    const found = [];
    for (const attr of attrs) {
      const abs = absolute(el.getAttribute(attr) || "");
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: shown + 1 });
    }
    return found;
  }

  /** Every address this image may show, largest first: srcset, <picture> sources, lazy and zoom attributes. */
  function imageSources(img) {
    const shown = img.getBoundingClientRect().width || Number(img.getAttribute("width")) || 0;
    const found = zoomSources(img);
    for (const attr of ["srcset", "data-srcset", "data-lazy-srcset"]) {
      found.push(...parseSrcset(img.getAttribute(attr), shown));
    }
    const picture = img.parentElement?.tagName === "PICTURE" ? img.parentElement : null;
    if (picture) {
      for (const source of picture.querySelectorAll("source")) {
        found.push(...parseSrcset(source.getAttribute("srcset") || source.getAttribute("data-srcset"), shown));
      }
    }
    found.push(...lazySources(img, LAZY_ATTRS, shown));
    const current = absolute(img.currentSrc || img.getAttribute("src") || "");
    if (current && !isPlaceholder(current) && !(img.complete && img.naturalWidth > 0 && img.naturalWidth <= 2)) {
      found.push({ url: current, w: img.naturalWidth || shown });
    }
    // Stable sort: among equal widths the order above wins (srcset before a plain src).
    return found.sort((a, b) => b.w - a.w);
  }

  /**
   * The same for an element that paints its picture as a CSS background: zoom attributes,
   * data-bgset, lazy attributes, then what it paints now. The computed value is used, so a url()
   * from a stylesheet is already resolved against that stylesheet, as the browser loaded it.
   */
  function backgroundSources(el, computedBackground) {
    const shown = el.getBoundingClientRect().width || 0;
    const found = zoomSources(el);
    for (const attr of BG_SRCSET_ATTRS) found.push(...parseBgset(el.getAttribute(attr), shown));
    found.push(...lazySources(el, BG_LAZY_ATTRS, shown));
    for (const url of cssUrls(computedBackground)) found.push({ url, w: shown });
    return found.sort((a, b) => b.w - a.w);
  }

  /** The computed style of `el` when it paints (or will paint, once its lazy-loader runs) a picture as its background, else null. */
  function backgroundStyle(el) {
    if (NOT_BACKGROUNDS.has(el.tagName) || el.namespaceURI !== "http://www.w3.org/1999/xhtml") return null;
    const style = getComputedStyle(el);
    if (style.backgroundImage.includes("url(")) return style;
    return BG_PENDING_ATTRS.some((a) => el.hasAttribute(a)) ? style : null;
  }

  /** A key that survives CDNs' size variants: /img/shirt_800x.jpg and /img/shirt-1200w.jpg?v=2 match. */
  function imageKey(url) {
    let u;
    try {
      u = new URL(url, document.baseURI);
    } catch {
      return null;
    }
    const wrapped = u.pathname.endsWith("/_next/image") || u.pathname.endsWith("/_vercel/image");
    if (wrapped && u.searchParams.get("url")) return imageKey(new URL(u.searchParams.get("url"), u).href);
    const last = decodeURIComponent(u.pathname.split("/").filter(Boolean).pop() || "").toLowerCase();
    return last
      .replace(/\.(jpe?g|png|webp|avif|gif)$/, "")
      // size suffixes: _800x, _800x1000, -1200w, @2x, and Shopify's named sizes (_grande, _large...)
      .replace(/([_-]\d{2,4}x\d{0,4}|[_-]\d{2,4}w|@\dx|_(pico|icon|thumb|small|compact|medium|large|grande|original|master))$/, "") || null;
  }

  // ---- the flat tree: open shadow roots are part of the page a shopper sees ---------------------

  /** The parent in the rendered (flat) tree: a slotted element's slot, a shadow root's host. */
  function flatParent(el) {
    return el.assignedSlot || el.parentElement || el.getRootNode?.().host || null;
  }

  /** Element.closest() that goes on through shadow roots to their hosts. */
  function closestFlat(el, selector) {
    for (let a = el; a; a = flatParent(a)) if (a.matches(selector)) return a;
    return null;
  }

  /**
   * Every element of the page and of its open shadow roots (nested ones too; closed ones cannot
   * be read), and those roots. A TreeWalker: iterating querySelectorAll("*") is many times slower.
   */
  function flatElements() {
    const elements = [];
    const roots = [];
    for (let i = -1; i < roots.length; i += 1) {
      const walker = document.createTreeWalker(i < 0 ? document : roots[i], NodeFilter.SHOW_ELEMENT);
      for (let el = walker.nextNode(); el; el = walker.nextNode()) {
        elements.push(el);
        if (el.shadowRoot && !NOT_BACKGROUNDS.has(el.tagName)) roots.push(el.shadowRoot); // not our own button's
      }
    }
    return { elements, roots };
  }

  // ---- elements ------------------------------------------------------------------------------

  function describe(el) {
    // Not the alt text: "T-shirt with logo print" is still a product.
    return [el.id, typeof el.className === "string" ? el.className : "", el.getAttribute("role")].filter(Boolean).join(" ");
  }

  function isNoise(img, url) {
    // The site's header, menu and footer, but not a <header> inside the product's own <main>/<article>.
    const region = closestFlat(img, CHROME_REGIONS);
    if (region && !closestFlat(region, "main, article, [role='main']")) return true;
    if (NOISE.test(describe(img))) return true;
    // The two closest containers say "thumbnails", "swatches", "logo"... for a whole strip.
    let parent = flatParent(img);
    for (let i = 0; i < 2 && parent; i += 1, parent = flatParent(parent)) {
      if (parent.tagName !== "PICTURE" && NOISE.test(describe(parent))) return true;
    }
    const path = (() => { try { return new URL(url).pathname; } catch { return ""; } })();
    return /\.svg$/i.test(path) || NOISE.test(path.split("/").pop() || "");
  }

  /**
   * The part of `el` a shopper can see, in viewport coordinates: its box clipped by every
   * ancestor that hides overflow (carousel tracks, sliders) and by the page's left and right
   * edges (slides parked off screen). Vertical scrolling is not clipping: a product below the fold
   * is still the product. Returns null when nothing is left.
   */
  function visibleRect(el) {
    const r = el.getBoundingClientRect();
    let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
    for (let a = flatParent(el); a && a !== document.body && a !== document.documentElement; a = flatParent(a)) {
      const style = getComputedStyle(a);
      if (style.overflowX !== "visible" || style.overflowY !== "visible") {
        const c = a.getBoundingClientRect();
        if (style.overflowX !== "visible") [left, right] = [Math.max(left, c.left), Math.min(right, c.right)];
        if (style.overflowY !== "visible") [top, bottom] = [Math.max(top, c.top), Math.min(bottom, c.bottom)];
      }
      if (style.position === "fixed") break;
    }
    left = Math.max(left, 0);
    right = Math.min(right, document.documentElement.clientWidth || window.innerWidth);
    return right - left > 0 && bottom - top > 0 ? { left, top, right, bottom, width: right - left, height: bottom - top } : null;
  }

  function isShown(el) {
    const rect = el.getBoundingClientRect();
    if (rect.width < MIN_SIDE || rect.height < MIN_SIDE) return false;
    const aspect = rect.width / rect.height;
    if (aspect > MAX_ASPECT || aspect < 1 / MAX_ASPECT) return false;
    if (el.checkVisibility && !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    // A slide parked outside its carousel (or a Slick clone) is not the picture on show.
    const seen = visibleRect(el);
    return Boolean(seen && seen.width >= MIN_SIDE / 2 && seen.height >= MIN_SIDE / 2);
  }

  let lastShadowRoots = [];

  /**
   * The images that could be a product photo, with their best address and their area on screen:
   * <img> elements and CSS-background pictures, in the page and in its open shadow roots.
   */
  function candidates() {
    const out = [];
    const { elements, roots } = flatElements();
    lastShadowRoots = roots;
    for (const el of elements) {
      let sources;
      if (el.tagName === "IMG") {
        if (!isShown(el)) continue;
        sources = imageSources(el);
      } else {
        const style = backgroundStyle(el);
        if (!style || !isShown(el)) continue;
        // A tiled background (repeated at its own size) is a texture; one under a headline or a
        // paragraph is a section or a banner. A product photo is scaled to its box (cover, contain,
        // 100%) and has at most a badge or a hidden label on it (innerText, not textContent: a
        // <noscript><img></noscript> fallback inside is not text).
        const tiled = style.backgroundRepeat === "repeat" && style.backgroundSize === "auto";
        if (tiled || (el.innerText || "").trim().length > MAX_TEXT_ON_PICTURE) continue;
        sources = backgroundSources(el, style.backgroundImage);
      }
      if (!sources.length || isNoise(el, sources[0].url)) continue;
      const seen = visibleRect(el);
      out.push({ element: el, url: sources[0].url, sources, area: seen.width * seen.height });
    }
    // A background with another picture inside it is a backdrop (a panel behind the gallery), not
    // a picture of its own.
    const inside = (el, outer) => { for (let a = flatParent(el); a; a = flatParent(a)) if (a === outer) return true; return false; };
    return out.filter((c) => c.element.tagName === "IMG" || !out.some((o) => o !== c && inside(o.element, c.element)));
  }

  // ---- structured data -------------------------------------------------------------------------

  function isProductType(type) {
    const types = Array.isArray(type) ? type : [type];
    return types.some((t) => typeof t === "string" && /(^|[/#:])(Product|ProductGroup)$/.test(t));
  }

  /** The first schema.org Product in the page's JSON-LD blocks (arrays, @graph and nesting included). */
  function jsonLdProduct() {
    for (const script of document.querySelectorAll('script[type="application/ld+json"]')) {
      let data;
      try {
        data = JSON.parse(script.textContent);
      } catch {
        continue; // shops do ship broken JSON-LD
      }
      const stack = [data];
      let guard = 0;
      while (stack.length && guard++ < 500) {
        const node = stack.shift();
        if (Array.isArray(node)) stack.push(...node);
        else if (node && typeof node === "object") {
          if (isProductType(node["@type"])) return node;
          for (const value of Object.values(node)) if (value && typeof value === "object") stack.push(value);
        }
      }
    }
    return null;
  }

  function jsonLdImages(product) {
    const raw = Array.isArray(product?.image) ? product.image : product?.image ? [product.image] : [];
    return raw
      .map((item) => (typeof item === "string" ? item : item?.contentUrl || item?.url))
      .map((url) => (typeof url === "string" ? absolute(url) : null))
      .filter(Boolean);
  }

  function meta(property) {
    const el = document.querySelector(`meta[property="${property}"], meta[name="${property}"]`);
    return el?.getAttribute("content")?.trim() || null;
  }

  function looksLikeProductPage(product) {
    if (product) return true;
    if (/product/i.test(meta("og:type") || "")) return true;
    if (meta("product:price:amount") || meta("og:price:amount")) return true;
    if (document.querySelector("[itemtype*='schema.org/Product' i], [itemprop='price'], form[action*='/cart/add']")) return true;
    for (const el of document.querySelectorAll("button, input[type='submit'], [role='button'], a")) {
      const text = el.tagName === "INPUT" ? el.value : el.textContent;
      if (text && text.length < 60 && ADD_TO_CART.test(text)) return true;
    }
    return false;
  }

  /** The shown image that displays `url`, largest first, or null. */
  function shownImageOf(url, all) {
    const key = imageKey(url);
    const matches = all.filter((c) => c.sources.some((s) => s.url === url || (key && imageKey(s.url) === key)));
    return matches.sort((a, b) => b.area - a.area)[0] || null;
  }

  const largest = (list) => list.slice().sort((a, b) => b.area - a.area)[0] || null;

  /**
   * The product on this page, best candidate first, or null.
   * @returns {{element: Element, url: string, source: string, product: object|null} | null}
   */
  function detectProduct() {
    const product = jsonLdProduct();
    if (!looksLikeProductPage(product)) return null;
    const all = candidates();
    for (const url of jsonLdImages(product)) {
      const shown = shownImageOf(url, all);
      if (shown) return { element: shown.element, url, source: "json-ld", product };
    }
    const og = absolute(meta("og:image") || meta("og:image:secure_url") || meta("og:image:url") || "");
    if (og) {
      const shown = shownImageOf(og, all);
      if (shown) return { element: shown.element, url: og, source: "og:image", product };
    }
    const inTestId = largest(all.filter((c) => closestFlat(c.element, "[data-testid*='product' i]")));
    if (inTestId) return { ...inTestId, source: "data-testid", product };
    const inContainer = largest(all.filter((c) => closestFlat(c.element, PRODUCT_CONTAINERS)));
    if (inContainer) return { ...inContainer, source: "container", product };
    const biggest = largest(all);
    return biggest ? { ...biggest, source: "largest", product } : null;
  }

  NS.detect = {
    detectProduct, jsonLdProduct, meta, parseSrcset, parseBgset, cssUrls, backgroundSources, imageKey, absolute, visibleRect,
    shadowRoots: () => lastShadowRoots, // the open shadow roots the last detection looked into (main.js watches them)
  };
})();
