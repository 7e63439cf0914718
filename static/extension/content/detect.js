//# allFunctionsCalledOnLoad
// (The line above asks V8 to compile every function of this file when it is injected, not on first
// call: the first detection on a page then runs compiled code. See README.md, "What it costs".)
// Product picture detection, run on every page by the content script.
//
// First the page must look like a product page: page.js weighs its signals (structured data, a
// price, an add-to-cart control, a price printed next to the title...). Then every picture a
// shopper can see is a candidate and gets a score from the evidence for it, none of which decides
// alone:
//
//   structured data   JSON-LD Product.image, microdata itemprop=image, og:image, twitter:image:
//                     the same picture in any size (1) or another rendition of it (0.6), by weight
//   layout            its size, its distance to the product's title, its place on the page
//   containers        a product gallery (.product-gallery, [data-testid*=product], a zoom link...)
//   hints             class names and file names ("thumb", "swatch", "banner"): a penalty, not a verdict
//   other products    a picture inside a link to another page (a recommendation tile): a penalty
//
// and the best one gets the button. `explain()` returns the whole reckoning for debugging.
//
// "Picture" means an <img>, or an element that paints the picture as a CSS background-image (older
// Shopify themes, zoom galleries), in the page or in any open shadow root (web components such as
// <product-gallery>). Lazy pictures count with the address their loader will show (data-src,
// data-srcset, <picture> sources, data-bgset, Amazon's data-old-hires and data-a-dynamic-image, a
// sibling meta[itemprop=image], any data-* attribute holding a picture address).
(() => {
  const NS = (globalThis.__tryOn ||= {});
  const U = NS.urls;
  const P = NS.page;

  const MIN_SIDE = 150; // px on screen: anything smaller is a thumbnail, a swatch or an icon
  const MAX_ASPECT = 2.4; // wider (or taller) than this is a banner or a strip, not a product photo
  // Never a product photo when the element or its file says so; in its two closest containers' names, a strong hint.
  const NEVER = /(^|[^a-z])(logo|logos|icon|icons|sprite|sprites|favicon|avatar|avatars|payment|payments|flag|flags|spinner|loader|captcha|qrcode|emoji)([^a-z]|$)/i;
  // Usually not the product photo; the other evidence can overrule it.
  const HINT_NOT = /(^|[^a-z])(thumb|thumbs|thumbnail|thumbnails|pagination|pager|swatch|swatches|banner|banners|promo|promos|badge|ad|ads|advert|sponsor|sponsored|recommend|recommended|recommendations|related|upsell|crosssell|teaser|rating|review|reviews)([^a-z]|$)/i;
  const HINT_MAIN = /(^|[^a-z])(main|primary|hero|zoom|zoomable|gallery|pdp|featured|product|large|landing)([^a-z]|$)/i;
  const PRODUCT_CONTAINERS = [
    ".pdp-image", ".pdp-images", ".pdp-gallery", ".product-image", ".product-images", ".product-img",
    ".product__media", ".product__media-item", ".product-media", ".product-gallery", ".product-photo",
    ".product-photos", ".product-single__photo", ".product-single__media", ".woocommerce-product-gallery",
    "#product-gallery", "#product-image", "#productImage", "#main-image", "#imgTagWrapperId",
    "[itemprop='image']", "[data-product-image]", "[data-product-media]", "[data-testid*='product' i]",
    "[class*='ProductImage']", "[class*='product-image']", "[class*='productImage']", "[class*='ProductMedia']",
    "[class*='gallery' i]",
  ].join(",");
  // Lazy-loaders' attributes for backgrounds (lazysizes' bgset, vanilla-lazyload, lozad). Only these
  // make an element that paints nothing yet a candidate.
  const BG_PENDING_SELECTOR = "[data-bgset], [data-bg], [data-background], [data-background-image], [data-bg-src]";
  // Elements that never paint a product picture as their background: the page itself, media, ours.
  const NOT_BACKGROUNDS = new Set(["HTML", "BODY", "IMG", "PICTURE", "SOURCE", "VIDEO", "IFRAME", "CANVAS", "SCRIPT",
    "STYLE", "LINK", "META", "NOSCRIPT", "TEMPLATE", "INPUT", "BUTTON", "SELECT", "TEXTAREA", "TRYON-EXTENSION-BUTTON"]);
  const MAX_TEXT_ON_PICTURE = 60; // more text than a badge or a hidden label: a banner or a section, not a photo
  const CHROME_REGIONS = "header, nav, footer, [role='banner'], [role='navigation'], [role='contentinfo']";
  const IMAGE_LINK = /\.(jpe?g|png|webp|avif|gif)(\?|$)|\/is\/image\//i;

  // ---- the flat tree: open shadow roots are part of the page a shopper sees ---------------------

  /** The parent in the rendered (flat) tree: a slotted element's slot, a shadow root's host. */
  function flatParent(el) {
    return el.assignedSlot || el.parentElement || el.getRootNode?.().host || null;
  }

  /** Element.closest() that goes on through shadow roots to their hosts (at most `depth` steps up). */
  function closestFlat(el, selector, depth = Infinity) {
    for (let a = el, i = 0; a && i <= depth; a = flatParent(a), i += 1) if (a.matches(selector)) return a;
    return null;
  }

  // Subtrees no product picture can be in: never rendered, or not content.
  const SKIP_SUBTREE = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "svg", "HEAD", "SELECT", "IFRAME", "VIDEO", "CANVAS", "TRYON-EXTENSION-BUTTON"]);

  // Finding CSS-background pictures and open shadow roots needs a walk over every element with its
  // computed style: the one cost of detection that grows with the page (about 2 ms per 1000
  // elements, more on the first read of a page's styles). Every detection on a small page walks it
  // at once. A big page is walked in slices of SLICE_MS of idle time only, first right after its
  // first detection, then at most every SCAN_MS (and after a client-side navigation), and the
  // detections in between use the last complete walk; a walk that finds new pictures or roots
  // runs detection again. The <img>s, the pictures that matter most, are always read fresh, also
  // those in open shadow roots, which the first detection finds without reading any style.
  const SCAN_MS = 2000;
  const SLICE_MS = 4;
  const BIG_PAGE_ELEMENTS = 1500;
  const newWalk = (at) => ({ at, backgrounds: [], roots: [], rootIndex: -2, root: null, el: null, pending: null });
  let scan = { at: -Infinity, backgrounds: [], roots: [] }; // the last complete walk
  let rescan = null; // the walk in progress, between idle slices
  let onRescanned = () => {};

  /** Walk `w` on from where it stopped until `deadline` (a performance.now() time); true when the whole page is walked. */
  function advance(w, deadline) {
    for (let count = 1; ; count += 1) {
      if (!w.el || !w.el.isConnected) { // the next root: the document, then each open shadow root found on the way
        w.rootIndex += 1;
        if (w.rootIndex >= w.roots.length) return true;
        w.root = w.rootIndex < 0 ? document.documentElement : w.roots[w.rootIndex];
        w.el = w.rootIndex < 0 ? w.root : w.root.firstElementChild;
        // One query for the rare elements the walk treats apart: cheaper than a test per element.
        w.pending = new Set(w.root.querySelectorAll(BG_PENDING_SELECTOR));
        continue;
      }
      const el = w.el;
      let into = !SKIP_SUBTREE.has(el.tagName);
      if (into) {
        const style = getComputedStyle(el);
        into = style.display !== "none"; // collapsed menus, templates: nothing in them is on show
        if (into && el.shadowRoot) w.roots.push(el.shadowRoot);
        if (into && !NOT_BACKGROUNDS.has(el.tagName) && (style.backgroundImage.includes("url(") || w.pending.has(el))) w.backgrounds.push(el);
      }
      // the next element in tree order within this root
      let next = into ? el.firstElementChild : null;
      for (let up = el; !next && up && up !== w.root; up = up.parentNode) next = up.nextElementSibling;
      w.el = next;
      if (count % 64 === 0 && performance.now() > deadline) return false;
    }
  }

  const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  function scanSlice(idle) {
    if (!rescan) return;
    if (advance(rescan, performance.now() + Math.min(SLICE_MS, idle?.timeRemaining?.() ?? SLICE_MS))) {
      const changed = !sameList(scan.backgrounds, rescan.backgrounds) || !sameList(scan.roots, rescan.roots);
      scan = rescan;
      rescan = null;
      if (changed) onRescanned(); // new pictures or roots may change the answer
    } else {
      requestIdleCallback(scanSlice, { timeout: 500 });
    }
  }

  let rescanTimer = 0;

  function startRescan() {
    clearTimeout(rescanTimer);
    rescanTimer = 0;
    if (rescan) return;
    rescan = newWalk(performance.now());
    requestIdleCallback(scanSlice, { timeout: 500 });
  }

  // The hosts of almost every shadow root on the web are custom elements (a hyphen in the name). One
  // native XPath query finds them without touching every element from this isolated world, which
  // would first give each of them a JavaScript wrapper (the bulk of a big page's first detection).
  const CUSTOM_ELEMENTS = "//*[contains(local-name(), '-')]";

  /**
   * The open shadow roots of custom elements, nested ones too, in tree order, reading no style (a
   * big page's first detection). The rare <div> or <span> host is found by the idle walk, which
   * reads every element anyway.
   */
  function openShadowRoots() {
    const roots = [];
    const found = document.evaluate(CUSTOM_ELEMENTS, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    for (let i = 0; i < found.snapshotLength; i += 1) {
      const root = found.snapshotItem(i).shadowRoot;
      if (root) roots.push(root);
    }
    for (let i = 0; i < roots.length; i += 1) {
      for (const el of roots[i].querySelectorAll("*")) if (el.shadowRoot) roots.push(el.shadowRoot);
    }
    return roots;
  }

  /**
   * The elements that paint (or will paint, once their lazy-loader runs) a picture as their
   * background, and the open shadow roots (nested ones too; closed ones cannot be read).
   */
  function backgroundsAndRoots(fresh = false) {
    const now = performance.now();
    if (fresh || document.getElementsByTagName("*").length <= BIG_PAGE_ELEMENTS) {
      const w = newWalk(now);
      advance(w, Infinity);
      scan = w;
      rescan = null;
    } else if (scan.at === -Infinity) {
      // A big page's first detection: its <img>s now (in the shadow roots too), its backgrounds
      // once the idle walk started here has found them (then detection runs again).
      scan = { at: now, backgrounds: [], roots: openShadowRoots() };
      startRescan();
    } else if (!rescan && !rescanTimer) {
      // Something changed (that is why detection runs): walk again once the last walk is SCAN_MS old.
      rescanTimer = setTimeout(startRescan, Math.max(0, SCAN_MS - (now - scan.at)));
    }
    return { backgrounds: scan.backgrounds.filter((el) => el.isConnected), roots: scan.roots.filter((r) => r.host.isConnected) };
  }

  // ---- where a picture's address comes from ----------------------------------------------------

  /** Every address this <img> may show, best first: zoom attributes, srcsets, lazy attributes, what it shows now. */
  function imageSources(img) {
    const shown = img.getBoundingClientRect().width || Number(img.getAttribute("width")) || 0;
    const found = U.attributeSources(img, shown);
    const picture = img.parentElement?.tagName === "PICTURE" ? img.parentElement : null;
    if (picture) {
      for (const source of picture.querySelectorAll("source")) {
        found.push(...U.parseSrcset(source.getAttribute("srcset") || source.getAttribute("data-srcset"), shown).map((s) => ({ ...s, via: "<source>" })));
      }
    }
    const current = U.absolute(img.currentSrc || img.getAttribute("src") || "");
    const tiny = img.complete && img.naturalWidth > 0 && img.naturalWidth <= 2; // a 1×1 lazy placeholder
    // A low-quality preview (quality=10) ranks below any other address of the picture.
    if (current && !U.isPlaceholder(current) && !tiny) found.push({ url: current, w: U.isLowQuality(current) ? 0.5 : img.naturalWidth || shown, via: "src" });
    // A gallery's <a href="big.jpg"> around its picture is the lightbox's full size, when it is the
    // same picture; a link to another file (the next view, a detail shot) only helps to recognise it.
    const link = closestFlat(img, "a[href]", 3);
    const href = link && U.absolute(link.getAttribute("href"));
    if (href && IMAGE_LINK.test(href) && !U.isPlaceholder(href)) {
      const same = !current || U.pictureMatch(current, href) === 1 || (U.renditionStem(href) && U.renditionStem(href) === U.renditionStem(current));
      found.push({ url: href, w: same ? Number.MAX_SAFE_INTEGER - 1 : 0, via: "link" });
    }
    if (!found.length) {
      // A lazy gallery whose only real address is in a meta[itemprop=image] next to the placeholder.
      const meta = img.parentElement?.querySelector(":scope > meta[itemprop~='image'], :scope > link[itemprop~='image']");
      const url = meta && U.absolute(meta.getAttribute("content") || meta.getAttribute("href"));
      if (url) found.push({ url, w: shown, via: "meta[itemprop=image]" });
    }
    // Stable sort: among equal widths the order above wins (srcset before a plain src).
    return found.sort((a, b) => b.w - a.w);
  }

  // ---- what a shopper sees -----------------------------------------------------------------------

  /**
   * The part of `el` a shopper can see, in viewport coordinates: its box clipped by every
   * ancestor that hides overflow (carousel tracks, sliders) and by the page's left and right
   * edges (slides parked off screen). Vertical scrolling is not clipping: a product below the fold
   * is still the product. Returns null when nothing is left.
   */
  // During one detection many pictures share their containers (a gallery, a carousel track): each
  // container's clipping is read once. Outside a detection (the button's repositioning) nothing is kept.
  let clipCache = null;

  function clipOf(a) {
    let clip = clipCache?.get(a);
    if (!clip) {
      const style = getComputedStyle(a);
      const x = style.overflowX !== "visible";
      const y = style.overflowY !== "visible";
      clip = { x, y, box: x || y ? a.getBoundingClientRect() : null, transparent: style.opacity === "0", fixed: style.position === "fixed" };
      clipCache?.set(a, clip);
    }
    return clip;
  }

  function visibleRect(el) {
    const r = el.getBoundingClientRect();
    let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
    // Fully transparent (a zoom overlay's copy, a faded-out slide): seen by nobody. Not <body> or
    // <html>: anti-flicker snippets fade the whole page in, and the page is what the shopper is about to see.
    let transparent = getComputedStyle(el).opacity === "0";
    for (let a = flatParent(el); a && a !== document.body && a !== document.documentElement; a = flatParent(a)) {
      const clip = clipOf(a);
      if (clip.transparent) transparent = true;
      if (clip.x) [left, right] = [Math.max(left, clip.box.left), Math.min(right, clip.box.right)];
      if (clip.y) [top, bottom] = [Math.max(top, clip.box.top), Math.min(bottom, clip.box.bottom)];
      if (clip.fixed) break;
    }
    left = Math.max(left, 0);
    right = Math.min(right, document.documentElement.clientWidth || window.innerWidth);
    return right - left > 0 && bottom - top > 0 ? { left, top, right, bottom, width: right - left, height: bottom - top, transparent } : null;
  }

  /** The part of `el` on show when it is big enough to be a product photo, else null. */
  function shownRect(el) {
    const rect = el.getBoundingClientRect();
    if (rect.width < MIN_SIDE || rect.height < MIN_SIDE) return null;
    const aspect = rect.width / rect.height;
    if (aspect > MAX_ASPECT || aspect < 1 / MAX_ASPECT) return null;
    // Not checkOpacity: anti-flicker snippets keep the whole <body> transparent until the page is ready
    // (visibleRect() finds the transparent containers below it).
    if (el.checkVisibility && !el.checkVisibility({ checkVisibilityCSS: true })) return null;
    // A slide parked outside its carousel (or a Slick clone) is not the picture on show.
    const seen = visibleRect(el);
    return seen && !seen.transparent && seen.width >= MIN_SIDE / 2 && seen.height >= MIN_SIDE / 2 ? seen : null;
  }

  /** id, classes and role, with camelCase split ("BVLogo" → "BV Logo") so the word lists see their words. */
  function describe(el) {
    // Not the alt text: "T-shirt with logo print" is still a product.
    const text = [el.id, typeof el.className === "string" ? el.className : "", el.getAttribute("role"), el.getAttribute("data-role")]
      .filter(Boolean).join(" ");
    return text.replace(/([a-z\d])([A-Z])/g, "$1 $2").replace(/([A-Z])([A-Z][a-z])/g, "$1 $2");
  }

  const fileName = (url) => { try { return decodeURIComponent(new URL(url).pathname.split("/").pop() || ""); } catch { return ""; } };

  /** The site's header, menu and footer, but not a <header> inside the product's own <main>/<article>. */
  function inPageChrome(el) {
    const region = closestFlat(el, CHROME_REGIONS);
    return Boolean(region && !closestFlat(region, "main, article, [role='main']"));
  }

  /** The element and its two closest containers (not a <picture>), as words. */
  function nearbyWords(el) {
    const out = [describe(el)];
    let parent = flatParent(el);
    for (let i = 0; i < 2 && parent; i += 1, parent = flatParent(parent)) if (parent.tagName !== "PICTURE") out.push(describe(parent));
    return out.join(" ");
  }

  /** A link to another page around the picture: a tile of another product, a menu entry, an ad. */
  function linksElsewhere(el) {
    const link = closestFlat(el, "a[href]", 6);
    if (!link) return null;
    const raw = link.getAttribute("href") || "";
    if (/^\s*(#|javascript:)/i.test(raw)) return null;
    if (/^\s*(tel|mailto|sms|whatsapp):/i.test(raw)) return raw; // a contact button's picture
    const href = U.absolute(raw);
    if (!href || IMAGE_LINK.test(href)) return null; // a lightbox's full-size picture
    const to = new URL(href);
    return to.origin === location.origin && to.pathname === location.pathname ? null : href;
  }

  /**
   * More text on it than a badge: a section or a banner. innerText (not textContent: a
   * <noscript><img></noscript> fallback is not text) only when textContent leaves a doubt, since
   * innerText lays out the whole subtree: a page-wide wrapper with a background would cost milliseconds.
   */
  function tooMuchText(el) {
    const raw = el.textContent.trim().length;
    if (raw <= MAX_TEXT_ON_PICTURE) return false;
    if (raw > 2000) return true;
    return (el.innerText || "").trim().length > MAX_TEXT_ON_PICTURE;
  }

  let lastShadowRoots = [];

  /**
   * The pictures that could be the product photo, with their addresses and their box:
   * <img> elements and CSS-background pictures, in the page and in its open shadow roots.
   */
  function* candidates(fresh) {
    const out = [];
    const { backgrounds, roots } = backgroundsAndRoots(fresh);
    lastShadowRoots = roots;
    const images = [document, ...roots].flatMap((root) => [...root.querySelectorAll("img")]);
    for (const el of [...images, ...backgrounds]) {
      // An <img>'s laid-out size costs less to read than its box: most are icons and thumbnails.
      if (el.tagName === "IMG" && (el.width < MIN_SIDE || el.height < MIN_SIDE)) continue;
      yield; // a place to pause: each picture big enough to be looked at costs a fraction of a millisecond
      const seen = shownRect(el);
      if (!seen || inPageChrome(el)) continue;
      let sources;
      const style = getComputedStyle(el);
      if (el.tagName === "IMG") {
        sources = imageSources(el);
      } else {
        if (!style.backgroundImage.includes("url(") && !el.matches(BG_PENDING_SELECTOR)) continue; // no longer a background picture
        // A tiled background (repeated at its own size) is a texture; one under a headline or a
        // paragraph is a section or a banner. A product photo is scaled to its box (cover, contain,
        // 100%) and has at most a badge or a hidden label on it (innerText, not textContent: a
        // <noscript><img></noscript> fallback inside is not text).
        const tiled = style.backgroundRepeat === "repeat" && style.backgroundSize === "auto";
        if (tiled || tooMuchText(el)) continue;
        sources = U.backgroundSources(el, style.backgroundImage);
      }
      if (!sources.length) continue;
      const url = sources[0].url;
      const words = nearbyWords(el);
      if (/\.svg(\?|$)/i.test(url) || NEVER.test(describe(el)) || NEVER.test(fileName(url))) continue;
      out.push({ element: el, url, sources, words, rect: seen, top: seen.top + window.scrollY, left: seen.left + window.scrollX });
    }
    // A background with another picture inside it is a backdrop (a panel behind the gallery), not
    // a picture of its own.
    const inside = (el, outer) => { for (let a = flatParent(el); a; a = flatParent(a)) if (a === outer) return true; return false; };
    return out.filter((c) => c.element.tagName === "IMG" || !out.some((o) => o !== c && inside(o.element, c.element)));
  }

  // ---- the reckoning ---------------------------------------------------------------------------------

  const clamp01 = (x) => Math.max(0, Math.min(1, x));

  /** Product numbers most pictures of the page share (a store's id, a cache folder): they tell no picture apart. */
  function commonTokens(all) {
    const counts = new Map();
    for (const c of all) for (const t of new Set(c.sources.flatMap((s) => U.idTokens(s.url)))) counts.set(t, (counts.get(t) || 0) + 1);
    const common = new Set();
    if (all.length >= 4) for (const [t, n] of counts) if (n > all.length / 2) common.add(t);
    return common;
  }

  /** Distance in px between two boxes in page coordinates (0 when they overlap). */
  function gap(a, b) {
    const dx = Math.max(0, a.left - b.right, b.left - a.right);
    const dy = Math.max(0, a.top - b.bottom, b.top - a.bottom);
    return Math.hypot(dx, dy);
  }

  const pageBox = (rect) => ({ left: rect.left + window.scrollX, right: rect.right + window.scrollX,
    top: rect.top + window.scrollY, bottom: rect.bottom + window.scrollY });

  /** Each part of a candidate's score, named (the sum decides). */
  function scoreParts(c, ctx) {
    const parts = {};
    // 1. structured data: the best agreement with any picture it names
    let best = { points: 0 };
    for (const s of ctx.structured) {
      for (const source of c.sources) {
        const level = U.pictureMatch(s.url, source.url, ctx.common);
        if (level && s.weight * level > best.points) best = { points: s.weight * level, source: s.source, level };
      }
    }
    if (ctx.micro && c.element.matches?.("[itemprop~='image']") && ctx.micro.contains(c.element) && 85 > best.points) {
      best = { points: 85, source: "microdata", level: 1 };
    }
    if (best.points) parts[`${best.source}${best.level < 1 ? " (another rendition)" : ""}`] = best.points;
    // 2. layout: size, distance to the title, place on the page
    const side = Math.min(c.rect.width, c.rect.height);
    parts.size = Math.round(20 * clamp01((side - MIN_SIDE) / 450));
    const box = { left: c.left, right: c.left + c.rect.width, top: c.top, bottom: c.top + c.rect.height };
    if (ctx.titleBox) parts["near the title"] = Math.round(20 * (1 - clamp01((gap(box, ctx.titleBox) - 100) / 800)));
    parts.position = Math.round(8 * (1 - clamp01(c.top / (3 * ctx.viewportHeight))));
    // 3. galleries and their zoom links
    if (closestFlat(c.element, PRODUCT_CONTAINERS, 8)) parts["product gallery"] = 10;
    if (HINT_MAIN.test(c.words)) parts["main-picture name"] = 6;
    if (c.sources.some((s) => s.w >= Number.MAX_SAFE_INTEGER - 1 || s.via === "link")) parts["zoom picture"] = 5;
    // 4. hints against it
    if (HINT_NOT.test(c.words) || HINT_NOT.test(fileName(c.url))) parts["thumbnail/banner name"] = -15;
    if (NEVER.test(c.words)) parts["logo/icon container"] = -30;
    const elsewhere = linksElsewhere(c.element);
    if (elsewhere) parts["links to another page"] = -20;
    return parts;
  }

  const total = (parts) => Object.values(parts).reduce((a, b) => a + b, 0);

  /**
   * The whole reckoning: whether this is a product page (and why), and every candidate with its
   * score parts, best first, and what each step cost (ms). Used by detectProduct() and, in DevTools
   * (the extension's content-script context), by people asking why a page got the button it got.
   * With `shortcut`, a page that cannot be a product page is not looked at any further; with
   * `fresh`, the whole page is walked again now, its styles included (what every detection of a
   * page of up to 1500 elements does).
   */
  function explain(options) {
    return proceed(reckon(options), { clip: new Map(), metas: P.metaTags() }, Infinity).value;
  }

  /**
   * Run the reckoning `steps` on until it is done or `until` (a performance.now() time) has passed,
   * with what one reckoning reads once kept across its stretches (`kept`): the page's meta tags and
   * each container's clipping.
   */
  function proceed(steps, kept, until) {
    clipCache = kept.clip;
    try {
      return P.withMetaTags(() => {
        for (;;) {
          const step = steps.next();
          if (step.done || performance.now() > until) return step;
        }
      }, kept.metas);
    } finally {
      clipCache = null;
    }
  }

  /** The reckoning as steps (a generator): explain() runs it at once, detectInSlices() a few ms at a time. */
  function* reckon({ shortcut = false, fresh = false } = {}) {
    const timings = {};
    let mark = performance.now();
    const lap = (name) => { const now = performance.now(); timings[name] = Math.round((now - mark) * 10) / 10; mark = now; };
    const nodes = P.jsonLdNodes();
    const product = P.jsonLdProduct(nodes);
    const title = P.productTitle(product?.name);
    yield;
    const gate = yield* P.productPageSignals({ product, nodes, title });
    lap("page");
    const titleBox = title ? pageBox(title.getBoundingClientRect()) : null;
    const base = { gate, product, title: title?.textContent.trim().slice(0, 120) || null, titleBox, timings };
    if (shortcut && gate.score + P.BIG_PICTURE_WEIGHT < P.PRODUCT_PAGE_SCORE) return { ...base, structured: [], ranked: [] };
    yield;
    const all = yield* candidates(fresh);
    lap("candidates");
    timings.count = all.length;
    const micro = P.microdataProduct(title);
    const ctx = {
      structured: P.structuredImages(product, micro), micro, titleBox, common: commonTokens(all),
      viewportHeight: window.innerHeight || 900,
    };
    const ranked = [];
    for (const c of all) {
      const parts = scoreParts(c, ctx);
      ranked.push({ ...c, parts, score: total(parts) });
      yield;
    }
    ranked.sort((a, b) => b.score - a.score);
    lap("scores");
    if (ranked.some((c) => (c.parts["near the title"] || 0) >= 15 && Math.min(c.rect.width, c.rect.height) >= 250)) {
      gate.signals.push({ signal: "a big picture next to the title", weight: P.BIG_PICTURE_WEIGHT });
      gate.score += P.BIG_PICTURE_WEIGHT;
      gate.isProductPage = gate.score >= P.PRODUCT_PAGE_SCORE;
    }
    return { ...base, structured: ctx.structured, ranked };
  }

  /** Which step chose the picture: the structured source that agreed with it, or the layout. */
  function sourceOf(parts) {
    const structured = Object.entries(parts).filter(([name]) => /^(json-ld|og:image|microdata|twitter:image|image_src)/.test(name))
      .sort((a, b) => b[1] - a[1])[0];
    return structured && structured[1] >= 50 ? structured[0].replace(" (another rendition)", "") : "layout";
  }

  // What the detections on this page cost (ms, wall clock, with each step's share): the first five
  // and the last 25, for DevTools and tests/benchmarks/extension_detection.py.
  const runs = [];
  function logRun(started, timings) {
    if (runs.length >= 30) runs.splice(5, 1);
    runs.push({ at: Math.round(started), total: Math.round((performance.now() - started) * 10) / 10, ...timings });
  }

  /**
   * The product on this page, or null when it is not a product page or shows no product picture.
   * `why` says which signals made it a product page and what made this picture win.
   * @returns {{element: Element, url: string, source: string, product: object|null, why: object} | null}
   */
  function detectProduct() {
    const started = performance.now();
    const reckoning = explain({ shortcut: true });
    logRun(started, reckoning.timings);
    return answer(reckoning);
  }

  // A detection runs as one task of at most this long; the rest goes on in the next task
  // (setTimeout 0), so that the page's own work and the shopper's input come in between. (A big
  // page's first detection costs 15-30 ms of cold code: see README.md, "What it costs".)
  const SLICE_DETECT_MS = 6;

  /** detectProduct() in stretches of SLICE_DETECT_MS; `done` gets its answer (null: no product, or the page changed under it). */
  function detectInSlices(done) {
    const started = performance.now();
    const steps = reckon({ shortcut: true });
    const kept = { clip: new Map(), metas: P.metaTags() };
    let slices = 0;
    const slice = () => {
      slices += 1;
      let step;
      try {
        step = proceed(steps, kept, performance.now() + SLICE_DETECT_MS);
      } catch (err) {
        done(null); // the caller must not wait forever for a detection that broke
        throw err;
      }
      if (!step.done) {
        setTimeout(slice, 0);
        return;
      }
      logRun(started, { ...step.value.timings, slices });
      done(answer(step.value));
    };
    slice();
  }

  /** What a reckoning says the product is: null when it is not a product page or shows no product picture. */
  function answer({ gate, product, ranked, structured }) {
    if (!gate.isProductPage || !ranked.length) return null;
    const [best] = ranked;
    // A low-quality preview on show (its real picture still loading): the structured data's address
    // of the same picture is the one worth sending.
    const full = U.isLowQuality(best.url) && structured.find((s) => !U.isLowQuality(s.url) && U.pictureMatch(s.url, best.url) === 1);
    const why = {
      page: gate.signals.map((s) => `${s.signal} (${s.weight > 0 ? "+" : ""}${s.weight})`),
      picture: Object.entries(best.parts).filter(([, v]) => v).map(([k, v]) => `${k} ${v > 0 ? "+" : ""}${v}`),
      score: best.score,
      runnerUp: ranked[1] ? { url: ranked[1].url, score: ranked[1].score } : null,
    };
    return { element: best.element, url: full ? full.url : best.url, source: sourceOf(best.parts), product, why };
  }

  NS.detect = {
    detectProduct, detectInSlices, explain, visibleRect, runs,
    // kept for callers of the earlier single-file detector (metadata.js, tests, the shops score script)
    jsonLdProduct: () => P.jsonLdProduct(), meta: P.meta, parseSrcset: U.parseSrcset, parseBgset: U.parseBgset,
    cssUrls: U.cssUrls, backgroundSources: U.backgroundSources, imageKey: U.imageKey, absolute: U.absolute,
    shadowRoots: () => lastShadowRoots, // the open shadow roots the last detection looked into (main.js watches them)
    // A new page (client-side navigation): walk it again, in idle time; `fn` runs when a walk has found what is there now.
    rescanSoon: () => startRescan(),
    whenRescanned: (fn) => { onRescanned = fn; },
  };
})();
