// Product image detection, run on every page by the content script. Shops' DOMs differ and
// change, so it tries the most reliable signals first and only then looks at the layout:
//
//   1. JSON-LD Product.image          (what the shop tells search engines its product looks like)
//   2. <meta property="og:image">      (what it shows when the page is shared)
//   3. images inside [data-testid*="product"]   (React / Next.js shops)
//   4. images in classic product containers (.pdp-image, .product-image, .product__media, ...)
//   5. the largest visible image       (last resort)
//
// 1 and 2 count only when a visible image on the page shows that picture (the button needs an
// image to sit next to). Lazy images (data-src, data-srcset, srcset, <picture> sources) count with
// their largest candidate. Icons, logos, sprites, thumbnails and banners never count, and a page
// with no sign of being a product page (structured data, a price, an add-to-cart button) gets none.
(() => {
  const NS = (globalThis.__tryOn ||= {});

  const MIN_SIDE = 150; // px on screen: anything smaller is a thumbnail, a swatch or an icon
  const MAX_ASPECT = 2.4; // wider (or taller) than this is a banner or a strip, not a product photo
  const NOISE = /(^|[^a-z])(logo|logos|icon|icons|sprite|sprites|favicon|avatar|badge|payment|flag|spinner|loader|swatch|swatches|thumb|thumbs|thumbnail|thumbnails|banner|hero|promo)([^a-z]|$)/i;
  const PLACEHOLDER = /(placeholder|blank|spacer|transparent|pixel|loading|lazy)[^/]*\.(gif|png|svg|webp)(\?|$)/i;
  const LAZY_ATTRS = ["data-src", "data-lazy-src", "data-original", "data-lazy", "data-url"];
  const ZOOM_ATTRS = ["data-zoom-image", "data-zoom-src", "data-large_image", "data-large-image", "data-full", "data-fullsize"];
  const PRODUCT_CONTAINERS = [
    ".pdp-image", ".pdp-images", ".pdp-gallery", ".product-image", ".product-images", ".product-img",
    ".product__media", ".product__media-item", ".product-media", ".product-gallery", ".product-photo",
    ".product-photos", ".product-single__photo", ".product-single__media", ".woocommerce-product-gallery",
    "#product-gallery", "#product-image", "#productImage", "#main-image", "#imgTagWrapperId",
    "[itemprop='image']", "[data-product-image]", "[data-product-media]",
    "[class*='ProductImage']", "[class*='product-image']", "[class*='productImage']", "[class*='ProductMedia']",
  ].join(",");
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
      const wm = descriptor.match(/^(\d+(?:\.\d+)?)w$/);
      const xm = descriptor.match(/^(\d+(?:\.\d+)?)x$/);
      if (wm) w = parseFloat(wm[1]);
      else if (xm) w = parseFloat(xm[1]) * (shownWidth || 1);
      const abs = absolute(url);
      if (abs && !isPlaceholder(abs)) out.push({ url: abs, w });
    }
    return out;
  }

  /** Every address this image may show, largest first: srcset, <picture> sources, lazy and zoom attributes. */
  function imageSources(img) {
    const shown = img.getBoundingClientRect().width || Number(img.getAttribute("width")) || 0;
    const found = [];
    for (const attr of ZOOM_ATTRS) {
      const abs = absolute(img.getAttribute(attr) || "");
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: Number.MAX_SAFE_INTEGER }); // the shop's own "full size"
    }
    for (const attr of ["srcset", "data-srcset", "data-lazy-srcset"]) {
      found.push(...parseSrcset(img.getAttribute(attr), shown));
    }
    const picture = img.parentElement?.tagName === "PICTURE" ? img.parentElement : null;
    if (picture) {
      for (const source of picture.querySelectorAll("source")) {
        found.push(...parseSrcset(source.getAttribute("srcset") || source.getAttribute("data-srcset"), shown));
      }
    }
    for (const attr of LAZY_ATTRS) {
      const abs = absolute(img.getAttribute(attr) || "");
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: shown + 1 });
    }
    const current = absolute(img.currentSrc || img.getAttribute("src") || "");
    if (current && !isPlaceholder(current) && !(img.complete && img.naturalWidth > 0 && img.naturalWidth <= 2)) {
      found.push({ url: current, w: img.naturalWidth || shown });
    }
    // Stable sort: among equal widths the order above wins (srcset before a plain src).
    return found.sort((a, b) => b.w - a.w);
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

  // ---- elements ------------------------------------------------------------------------------

  function describe(el) {
    // Not the alt text: "T-shirt with logo print" is still a product.
    return [el.id, typeof el.className === "string" ? el.className : "", el.getAttribute("role")].filter(Boolean).join(" ");
  }

  function isNoise(img, url) {
    // The site's header, menu and footer, but not a <header> inside the product's own <main>/<article>.
    const region = img.closest(CHROME_REGIONS);
    if (region && !region.closest("main, article, [role='main']")) return true;
    if (NOISE.test(describe(img))) return true;
    // The two closest containers say "thumbnails", "swatches", "logo"... for a whole strip.
    let parent = img.parentElement;
    for (let i = 0; i < 2 && parent; i += 1, parent = parent.parentElement) {
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
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
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

  /** The images that could be a product photo, with their best address and their area on screen. */
  function candidates() {
    const out = [];
    for (const img of document.images) {
      if (!isShown(img)) continue;
      const sources = imageSources(img);
      if (!sources.length || isNoise(img, sources[0].url)) continue;
      const seen = visibleRect(img);
      out.push({ element: img, url: sources[0].url, sources, area: seen.width * seen.height });
    }
    return out;
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
   * @returns {{element: HTMLImageElement, url: string, source: string, product: object|null} | null}
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
    const inTestId = largest(all.filter((c) => c.element.closest("[data-testid*='product' i]")));
    if (inTestId) return { ...inTestId, source: "data-testid", product };
    const inContainer = largest(all.filter((c) => c.element.closest(PRODUCT_CONTAINERS)));
    if (inContainer) return { ...inContainer, source: "container", product };
    const biggest = largest(all);
    return biggest ? { ...biggest, source: "largest", product } : null;
  }

  NS.detect = { detectProduct, jsonLdProduct, meta, parseSrcset, imageKey, absolute, visibleRect };
})();
