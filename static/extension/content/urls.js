//# allFunctionsCalledOnLoad
// (The line above asks V8 to compile every function of this file when it is injected, not on first
// call: the first detection on a page then runs compiled code. See README.md, "What it costs".)
// Picture addresses, as shops write them: srcset and lazysizes' bgset lists, CSS url()s, the
// attributes galleries keep their real picture in, and the keys that tell whether two addresses
// show the same picture (one photo is served in many sizes and renditions: `_800x`, `-1200w`,
// `._AC_SX679_`, `?$pdp-zoom$`, `…-1-1-catalog-v2.jpg` next to `…-1-zoom-desktop.jpg`).
// Pure functions of their arguments and `document.baseURI`: node unit tests load this file alone.
(() => {
  const NS = (globalThis.__tryOn ||= {});

  const PLACEHOLDER = /(placeholder|blank|spacer|transparent|pixel|loading|lazy|1x1|empty|grey|gray)[^/]*\.(gif|png|svg|webp)(\?|$)/i;
  const IMAGE_FILE = /\.(jpe?g|png|webp|avif|gif|jfif|bmp|tiff?|heic)$/i;
  // The shop's "full size" picture (zoom and lightbox attributes, Amazon's data-old-hires): it beats
  // any srcset width.
  const ZOOM_ATTRS = [
    "data-zoom", "data-zoom-image", "data-zoom-src", "data-zoom-url", "data-zoom-img", "data-zoomimg",
    "data-large_image", "data-large-image", "data-large", "data-large-src", "data-big", "data-big-src",
    "data-full", "data-fullsize", "data-full-src", "data-full-image", "data-old-hires", "data-hires",
    "data-hi-res", "data-hi-res-src", "data-high-res", "data-high-res-img", "data-highres", "data-magnify-src",
    "data-image-zoom", "data-original-src",
  ];
  // Lazy-loaders' attributes for the picture to come (lazysizes, lozad, vanilla-lazyload, Flickity, Echo...).
  const LAZY_ATTRS = [
    "data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-lazyload", "data-lazy-load",
    "data-img", "data-img-src", "data-image", "data-image-src", "data-echo", "data-flickity-lazyload",
    "data-ll-src", "data-pagespeed-lazy-src", "data-defer-src", "data-delayed-src", "data-main-image",
  ];
  const BG_LAZY_ATTRS = ["data-bg", "data-background", "data-background-image", "data-bg-src", "data-src"];
  const SRCSET_ATTRS = ["srcset", "data-srcset", "data-lazy-srcset", "data-original-set", "data-bgset"];
  // Query parameters that choose a size, a format or a cache version, never which picture.
  const SIZE_PARAM = /^(w|h|wid|hei|width|height|size|sz|s|q|qlt|quality|fmt|format|fit|crop|dpr|resize|scale|auto|bg|bgcolor|op_sharpen|resmode|imwidth|imheight|iw|ih|mw|mh|maxwidth|maxheight|v|ver|version|ts|t|cb|cache|rev|impolicy|imgeng|dw|dh|sw|sh|sm|fm|trim|mode|rect|cropx1|cropx2|cropy1|cropy2|orient|frame|pad|extend|layer|\$.*)$/i;
  // Size and rendition words inside a file name: `tee-1-zoom-desktop` and `tee-1-1-catalog-v2` are
  // both "tee". (Single letters and small numbers are view and size codes: `-c`, `-m`, `_1`.)
  const RENDITION_WORD = /^(\d{1,4}x\d{0,4}|x\d{2,4}|\d{2,4}[wh]|[wh]\d{2,4}|s\d{2,4}|q\d{1,3}|v\d{1,2}|\d{1,3}|[a-z]|[a-z]\d|zoom|zoomed|large|larger|medium|small|thumb|thumbnail|thumbs|tn|mini|big|main|hires|hi|lo|lores|lowres|highres|full|fullsize|original|orig|master|catalog|catalogue|desktop|mobile|tablet|retina|std|standard|default|detail|details|detailed|pdp|plp|preview|grande|compact|pico|icon|xl|xxl|xs|sq|square|crop|cropped|web|hd|sd|fhd|uhd|normal|regular|popup|lightbox|gallery|primary|hero|image|img|photo|pic)$/;

  // Resolving is the commonest call of a detection (every attribute of every picture): remembered.
  const resolved = new Map();

  // Inline pictures (data:, blob:) are never an address to send, and some are 100 KB long (Amazon's
  // previews): turned away before they are hashed into the memo.
  const NOT_AN_ADDRESS = /^\s*(data|blob|javascript):/i;
  const MAX_URL = 4096;

  function absolute(url) {
    if (typeof url !== "string" || url.length > MAX_URL || NOT_AN_ADDRESS.test(url.slice(0, 24))) return null;
    if (!url.trim()) return null; // new URL("", base) would be the page itself
    const base = document.baseURI;
    const id = `${base} ${url}`;
    if (resolved.has(id)) return resolved.get(id);
    let href = null;
    try {
      const u = new URL(url.trim(), base);
      href = u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch { /* not an address */ }
    if (resolved.size > 5000) resolved.clear();
    resolved.set(id, href);
    return href;
  }

  // A low-quality preview served while the real picture loads (quality=10, q=5): blurry on purpose.
  const LOW_QUALITY_PREVIEW = /[?&](quality|q|qlt)=([0-9]|1[0-9]|20)(&|$)/i;

  function isPlaceholder(url) {
    return !url || url.startsWith("data:") || url.startsWith("blob:") || PLACEHOLDER.test(url);
  }

  const isLowQuality = (url) => LOW_QUALITY_PREVIEW.test(url || "");

  /** Whether a string names a picture file (by its path's extension, or an image CDN's path). */
  function looksLikeImageUrl(value) {
    if (typeof value !== "string" || value.length > 2000 || /\s/.test(value.trim())) return false;
    const abs = absolute(value);
    if (!abs || isPlaceholder(abs)) return false;
    const u = new URL(abs);
    return IMAGE_FILE.test(u.pathname) || /\/(is\/image|images?|img|media|photos?|pictures?)\//i.test(u.pathname);
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

  /** Amazon's data-a-dynamic-image: {"https://…_SX679_.jpg": [679, 679], …}; the width ranks them. */
  function parseDynamicImage(text) {
    if (!text || !String(text).trim().startsWith("{")) return [];
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return [];
    }
    return Object.entries(data || {}).flatMap(([url, size]) => {
      const abs = absolute(url);
      const w = Array.isArray(size) ? Number(size[0]) || 1 : 1;
      return abs && !isPlaceholder(abs) ? [{ url: abs, w }] : [];
    });
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

  const KNOWN_ATTRS = new Set([...ZOOM_ATTRS, ...SRCSET_ATTRS, ...LAZY_ATTRS, "data-a-dynamic-image"]);

  /**
   * The addresses an element's attributes give for its picture, each with a rank `w` (bigger is
   * better): zoom attributes first, then srcset-like lists by width, Amazon's dynamic-image map, the
   * lazy-loaders' attributes just above what is shown now (`shown`), and last any other data-*
   * attribute that holds a picture address (galleries name them as they like) just below it.
   */
  function attributeSources(el, shown, { srcsets = SRCSET_ATTRS, lazy = LAZY_ATTRS } = {}) {
    const found = [];
    const known = srcsets === SRCSET_ATTRS && lazy === LAZY_ATTRS ? KNOWN_ATTRS : new Set([...ZOOM_ATTRS, ...srcsets, ...lazy, "data-a-dynamic-image"]);
    // The names the element has, in one call (a handful, mostly), so that the fifty-odd names shops
    // use are looked up here rather than asked of the element one by one.
    const names = el.getAttributeNames ? el.getAttributeNames() : [];
    const has = new Set(names);
    const value = (name) => (has.has(name) ? el.getAttribute(name) || "" : "");
    for (const name of ZOOM_ATTRS) {
      const abs = absolute(value(name));
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: Number.MAX_SAFE_INTEGER, via: name });
    }
    for (const name of srcsets) {
      const list = name === "data-bgset" ? parseBgset(value(name), shown) : parseSrcset(value(name), shown);
      found.push(...list.map((s) => ({ ...s, via: name })));
    }
    found.push(...parseDynamicImage(value("data-a-dynamic-image")).map((s) => ({ ...s, via: "data-a-dynamic-image" })));
    for (const name of lazy) {
      const abs = absolute(value(name));
      if (abs && !isPlaceholder(abs)) found.push({ url: abs, w: shown + 1, via: name });
    }
    for (const name of names) {
      if (!name.startsWith("data-") || known.has(name) || /thumb|swatch|icon|logo|hover|back/i.test(name)) continue;
      const text = value(name);
      if (looksLikeImageUrl(text)) found.push({ url: absolute(text), w: shown - 0.5, via: name });
    }
    return found;
  }

  /**
   * The addresses of a picture painted as a CSS background, best first: zoom attributes,
   * data-bgset, lazy attributes, then what it paints now. `computedBackground` is the computed
   * value, so a url() from a stylesheet is already resolved against that stylesheet.
   */
  function backgroundSources(el, computedBackground) {
    const shown = el.getBoundingClientRect().width || 0;
    const found = attributeSources(el, shown, { srcsets: ["data-bgset"], lazy: BG_LAZY_ATTRS });
    for (const url of cssUrls(computedBackground)) found.push({ url, w: shown, via: "background" });
    return found.sort((a, b) => b.w - a.w);
  }

  // ---- keys: do two addresses show the same picture? -------------------------------------------

  // Detection compares every picture on the page with every structured one, several times a second
  // on busy pages: each address is taken apart once.
  const memo = new Map();
  function remember(kind, fn) {
    return (url) => {
      const id = kind + url;
      if (memo.has(id)) return memo.get(id);
      if (memo.size > 20000) memo.clear();
      const value = fn(url);
      memo.set(id, value);
      return value;
    };
  }

  function parse(url) {
    try {
      return new URL(url, document.baseURI);
    } catch {
      return null;
    }
  }

  /** An image optimiser's wrapped address (/_next/image?url=…), or a picture named by a query value (thumb.aspx?i=/img/x.jpg). */
  function innerImageUrl(u) {
    const wrapped = u.pathname.endsWith("/_next/image") || u.pathname.endsWith("/_vercel/image");
    if (wrapped && u.searchParams.get("url")) return new URL(u.searchParams.get("url"), u).href;
    if (IMAGE_FILE.test(u.pathname)) return null;
    for (const [name, value] of u.searchParams) {
      if (!SIZE_PARAM.test(name) && IMAGE_FILE.test(value.split("?")[0])) return new URL(value, u).href;
    }
    return null;
  }

  /**
   * A key that survives CDNs' size variants: /img/shirt_800x.jpg, /img/shirt-1200w.jpg?v=2 and
   * Amazon's /I/41abc._AC_SX679_.jpg ~ /I/41abc._SL1500_.jpg match. Pictures named by the query
   * (an image service's ?imageId=…) keep the query's naming parameters in their key.
   */
  const imageKey = remember("k", (url) => {
    const u = parse(url);
    if (!u) return null;
    const inner = innerImageUrl(u);
    if (inner) return imageKey(inner);
    const last = u.pathname.split("/").filter(Boolean).pop() || "";
    let key = fileKey(last);
    if (!key || RENDITION_WORD.test(key)) {
      // The file is named by its size only (/510979876/1348x1796.jpg, /xyz/large.jpg): the folder names the picture.
      const folder = u.pathname.split("/").filter(Boolean).slice(0, -1).reverse().find((seg) => !RENDITION_WORD.test(fileKey(seg)));
      // A view number or letter (/tee/1.jpg, /tee/2.jpg) still tells the views apart.
      const view = /^(\d{1,3}|[a-z]\d?)$/.test(key) ? key : "";
      key = folder ? `${fileKey(folder)}/${view}` : key;
    }
    if (!IMAGE_FILE.test(u.pathname)) {
      // An image service: which picture is in the query (imageId=…), next to size parameters.
      // A short number (w=680, recipeName=350, profile=12) sizes or styles it; a long one names it.
      const naming = [...u.searchParams].filter(([name, value]) => !SIZE_PARAM.test(name) && (/\d{5}/.test(value) || (value.length >= 8 && /\d/.test(value))));
      if (naming.length) key += "?" + naming.map(([n, v]) => `${n.toLowerCase()}=${v.toLowerCase()}`).sort().join("&");
    }
    return key || null;
  });

  /** A file name without its extension and its size suffixes. */
  function fileKey(name) {
    let decoded = name;
    try {
      decoded = decodeURIComponent(name);
    } catch { /* keep it as it is */ }
    return decoded.toLowerCase()
      .replace(IMAGE_FILE, "")
      .replace(/\._[a-z0-9_,-]*_?$/, "") // Amazon's ._AC_SX679_ and ._SL1500_
      // size suffixes: _800x, _800x1000, -1200w, @2x, and Shopify's named sizes (_grande, _large...)
      .replace(/([_-]\d{2,4}x\d{0,4}|[_-]\d{2,4}w|@\dx|_(pico|icon|thumb|small|compact|medium|large|grande|original|master))$/, "");
  }

  /** The file name without its size and rendition words: `tee-1-1-catalog-v2` and `tee-1-zoom-desktop` are both `tee`. */
  const renditionStem = remember("s", (url) => {
    const key = imageKey(url);
    if (!key) return null;
    const words = key.split("?")[0].split(/[-_.~+ ]+/).filter((w) => w && !RENDITION_WORD.test(w));
    const stem = words.join("-");
    return stem.length >= 4 ? stem : null;
  });

  /**
   * The specific names in an address: product numbers (6+ digits), UUIDs and hash-like names
   * (10+ letters and digits mixed), from its path and from the query values that name the picture.
   */
  const idTokens = remember("t", (url) => {
    const u = parse(url);
    if (!u) return [];
    const inner = innerImageUrl(u);
    if (inner) return idTokens(inner);
    let text = u.pathname;
    for (const [name, value] of u.searchParams) if (!SIZE_PARAM.test(name)) text += "/" + value;
    try {
      text = decodeURIComponent(text);
    } catch { /* keep it as it is */ }
    const tokens = new Set();
    for (const m of text.matchAll(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi)) tokens.add(m[0].toLowerCase());
    for (const word of text.split(/[^a-z0-9]+/i)) {
      if (/\d{6,}/.test(word)) for (const m of word.matchAll(/\d{6,}/g)) tokens.add(m[0]);
      if (word.length >= 10 && /\d.*\d/.test(word) && /[a-z].*[a-z]/i.test(word)) tokens.add(word.toLowerCase());
    }
    return [...tokens];
  });

  /**
   * How surely `candidateUrl` shows the picture `structuredUrl` names: 1 the same picture (any
   * size), 0.6 another rendition of it or of the same product shot (same file stem, or a product
   * number they share that `common` does not list as shared by most pictures of the page), else 0.
   */
  function pictureMatch(structuredUrl, candidateUrl, common = new Set()) {
    if (!structuredUrl || !candidateUrl) return 0;
    if (structuredUrl === candidateUrl) return 1;
    const key = imageKey(structuredUrl);
    if (key && key === imageKey(candidateUrl)) return 1;
    const stem = renditionStem(structuredUrl);
    if (stem && stem === renditionStem(candidateUrl)) return 0.6;
    const ids = new Set(idTokens(structuredUrl).filter((t) => !common.has(t)));
    return idTokens(candidateUrl).some((t) => ids.has(t)) ? 0.6 : 0;
  }

  NS.urls = {
    absolute, isPlaceholder, isLowQuality, looksLikeImageUrl, parseSrcset, parseBgset, parseDynamicImage, cssUrls, attributeSources, backgroundSources,
    imageKey, renditionStem, idTokens, pictureMatch, ZOOM_ATTRS, LAZY_ATTRS,
  };
})();
