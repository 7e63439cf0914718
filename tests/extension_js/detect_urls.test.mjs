// Unit tests of the content script's URL handling (static/extension/content/urls.js):
// srcset and data-bgset parsing, CSS url() reading, the ranking of a background picture's addresses
// and the image key that matches a CDN's size variants. Run by
// tests/test_extension_js.py with `node --test`; the DOM-level detection is proven in Chromium
// by tests/test_extension_browser.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

function loadDetector(baseURI = "https://shop.example/products/tee") {
  const context = { document: { baseURI }, URL, console };
  context.globalThis = context;
  vm.createContext(context);
  const source = readFileSync(new URL("../../static/extension/content/urls.js", import.meta.url), "utf8");
  vm.runInContext(source, context);
  return context.__tryOn.urls;
}

const detector = loadDetector();
// Objects made inside the vm context belong to another realm: copy them into this one to compare.
const parseSrcset = (...args) => JSON.parse(JSON.stringify(detector.parseSrcset(...args)));
const { imageKey, absolute } = detector;
const widest = (text, shown) => parseSrcset(text, shown).sort((a, b) => b.w - a.w)[0].url;

test("the widest w-descriptor candidate wins, whatever the order", () => {
  assert.equal(widest("/a-1200.jpg 1200w, /a-400.jpg 400w, /a-800.jpg 800w"), "https://shop.example/a-1200.jpg");
});

test("commas inside URLs (Cloudinary, imgix) do not split a candidate", () => {
  const text = "https://res.cdn.example/image/upload/w_400,h_600,c_fill/tee.jpg 400w, "
    + "https://res.cdn.example/image/upload/w_1200,h_1800,c_fill/tee.jpg 1200w";
  assert.equal(widest(text), "https://res.cdn.example/image/upload/w_1200,h_1800,c_fill/tee.jpg");
  assert.equal(parseSrcset(text).length, 2);
});

test("density descriptors are scaled by the shown width", () => {
  const [one, two] = parseSrcset("/t.jpg 1x, /t@2x.jpg 2x", 300);
  assert.deepEqual([one.w, two.w], [300, 600]);
});

test("a candidate without a descriptor and a trailing comma are read", () => {
  assert.deepEqual(parseSrcset("/only.jpg,", 250).map((c) => c.url), ["https://shop.example/only.jpg"]);
});

test("placeholders and data: URLs are never candidates", () => {
  const text = "data:image/gif;base64,R0lGODlhAQABAAAAACw= 1w, /img/placeholder.gif 2w, /img/real.jpg 800w";
  assert.deepEqual(parseSrcset(text).map((c) => c.url), ["https://shop.example/img/real.jpg"]);
  // a low-quality preview shown while the picture loads is a picture, but not the one to send
  assert.equal(detector.isLowQuality("https://img.example/bag_1.jpg?format=pjpg&quality=10&width=612"), true);
  assert.equal(detector.isLowQuality("https://img.example/bag_1.jpg?format=pjpg&q=85&width=612"), false);
});

test("relative URLs resolve against the page, empty ones are nothing", () => {
  assert.equal(absolute("../img/x.jpg"), "https://shop.example/img/x.jpg");
  assert.equal(absolute(""), null);
  assert.equal(absolute("javascript:alert(1)"), null);
});

test("size variants of one picture share a key", () => {
  const key = imageKey("https://cdn.shop.example/files/breton-tee_800x.jpg?v=17");
  assert.equal(key, "breton-tee");
  assert.equal(imageKey("https://shop.example/files/breton-tee-1200w.webp"), key);
  assert.equal(imageKey("/_next/image?url=%2Ffiles%2Fbreton-tee.png&w=640&q=75"), key);
  assert.equal(imageKey("https://shop.example/products/breton-tee_grande.jpg"), key); // Shopify's named sizes
  assert.equal(imageKey("https://shop.example/products/breton-tee_1024x1024.jpg?v=3"), key);
  assert.notEqual(imageKey("https://shop.example/files/breton-dress.jpg"), key);
});

// ---- CSS background pictures --------------------------------------------------------------------

const parseBgset = (...args) => JSON.parse(JSON.stringify(detector.parseBgset(...args)));
const cssUrls = (value) => [...detector.cssUrls(value)];

test("srcset entries with a width and a height (Shopify's bgset snippet) rank by the width", () => {
  const text = "//cdn.shop.example/files/tee_180x.jpg?v=1 180w 216h, //cdn.shop.example/files/tee_1080x.jpg?v=1 1080w 1296h";
  assert.deepEqual(parseSrcset(text, 300).map((c) => [c.url, c.w]), [
    ["https://cdn.shop.example/files/tee_180x.jpg?v=1", 180],
    ["https://cdn.shop.example/files/tee_1080x.jpg?v=1", 1080],
  ]);
});

test("lazysizes' data-bgset: every media branch is read, the [media query] is not a URL", () => {
  const text = "/img/tee-s.jpg 400w [(max-width: 600px)] | /img/tee-l.jpg 1600w, /img/tee-m.jpg 800w";
  const found = parseBgset(text, 450).sort((a, b) => b.w - a.w);
  assert.deepEqual(found.map((c) => c.url), [
    "https://shop.example/img/tee-l.jpg", "https://shop.example/img/tee-m.jpg", "https://shop.example/img/tee-s.jpg",
  ]);
});

test("url()s of a background value: quotes, layers and image-set read, gradients and data: skipped", () => {
  assert.deepEqual(cssUrls('url("https://cdn.example/a.jpg"), linear-gradient(red, blue)'), ["https://cdn.example/a.jpg"]);
  assert.deepEqual(cssUrls("url('/img/b (1).jpg')"), ["https://shop.example/img/b%20(1).jpg"]);
  assert.deepEqual(cssUrls("url(/img/c.jpg)"), ["https://shop.example/img/c.jpg"]);
  assert.deepEqual(cssUrls('image-set(url("/img/d.jpg") 1x, url("/img/d@2x.jpg") 2x)'),
    ["https://shop.example/img/d.jpg", "https://shop.example/img/d@2x.jpg"]);
  assert.deepEqual(cssUrls('url("data:image/gif;base64,R0lGODlhAQABAAAAACw=")'), []);
  assert.deepEqual(cssUrls("none"), []);
});

test("a background picture's best address: zoom attribute, then the widest bgset entry, then what it paints", () => {
  const element = (attrs) => ({
    getAttributeNames: () => Object.keys(attrs),
    getAttribute: (name) => attrs[name] ?? null,
    getBoundingClientRect: () => ({ width: 450, height: 540 }),
  });
  const best = (attrs, painted) => detector.backgroundSources(element(attrs), painted)[0].url;
  const painted = 'url("https://shop.example/img/tee-600.jpg")';
  assert.equal(best({}, painted), "https://shop.example/img/tee-600.jpg");
  assert.equal(best({ "data-bgset": "/img/tee-600.jpg 600w 720h, /img/tee-1200.jpg 1200w 1440h" }, painted),
    "https://shop.example/img/tee-1200.jpg");
  assert.equal(best({ "data-bgset": "/img/tee-1200.jpg 1200w", "data-zoom": "/img/tee-master.jpg" }, painted),
    "https://shop.example/img/tee-master.jpg");
  // not painted yet (the lazy-loader has not run): its attribute is the address
  assert.equal(best({ "data-bg": "/img/tee-lazy.jpg" }, "none"), "https://shop.example/img/tee-lazy.jpg");
});

// ---- one picture in many renditions (real shops' patterns, issue 15) ------------------------------

const { pictureMatch, renditionStem } = detector;
const idTokens = (url) => [...detector.idTokens(url)];

test("Amazon-style renditions (._AC_SX679_, ._SL1500_) share a key", () => {
  const key = imageKey("https://images.example/I/71abcDEF12L._AC_SX679_.jpg");
  assert.equal(key, "71abcdef12l");
  assert.equal(imageKey("https://images.example/I/71abcDEF12L._SL1500_.jpg"), key);
  assert.equal(imageKey("https://images.example/I/71abcDEF12L.jpg"), key);
});

test("a file named by its size only is keyed by its folder; view numbers still tell views apart", () => {
  const a = imageKey("https://cdn.example/uploads/510900876/1348x1796.jpg?q=60");
  assert.equal(a, "510900876/");
  assert.equal(imageKey("https://cdn.example/uploads/510900876/320x426.jpg"), a);
  assert.notEqual(imageKey("https://cdn.example/uploads/510900880/320x426.jpg"), a);
  assert.notEqual(imageKey("https://cdn.example/p/tee/1.jpg"), imageKey("https://cdn.example/p/tee/2.jpg"));
});

test("an image service names its picture in the query: size parameters drop, naming ones stay", () => {
  const a = imageKey("https://img.example/imageService?profileId=12&imageId=100200300-847__1&recipeName=680");
  assert.equal(a, "imageservice?imageid=100200300-847__1");
  assert.equal(a, imageKey("https://img.example/imageService?recipeName=350&imageId=100200300-847__1&profileId=12"));
  assert.notEqual(a, imageKey("https://img.example/imageService?profileId=12&imageId=100200399-847__1&recipeName=680"));
  // a picture path in a query value (a resizer script) is the picture
  assert.equal(imageKey("https://img.example/thumb.aspx?i=/productImages%2f_24000%2fff_2400403_full.jpg&w=600"), "ff_2400403_full");
});

test("renditions of one photo match at 0.6: same stem once size and rendition words are dropped", () => {
  const ld = "https://shop.example/media/tee-4411-1-1-catalog-v2.jpg";
  const shown = "https://shop.example/media/tee-4411-1-zoom-desktop.jpg";
  assert.equal(renditionStem(ld), "tee-4411");
  assert.equal(renditionStem(shown), "tee-4411");
  assert.equal(pictureMatch(ld, shown), 0.6);
  assert.equal(pictureMatch(ld, "https://shop.example/media/tee-5120-1-catalog.jpg"), 0); // another T-shirt
  assert.equal(pictureMatch(shown, "https://cdn.example/x/tee-4411-1-zoom-desktop_800x.jpg?v=3"), 1); // the same file, another size
});

test("a shared product number matches renditions with other names, unless most pictures of the page share it", () => {
  const og = "https://img.example/z/4/1/3/4130129-p-DETAILED.jpg";
  const shown = "https://img.example/z/4/1/3/4130129-p-MULTIVIEW.jpg";
  assert.ok(idTokens(og).includes("4130129"));
  assert.equal(pictureMatch(og, shown), 0.6);
  assert.equal(pictureMatch(og, shown, new Set(["4130129"])), 0); // a store id on every picture tells nothing
  assert.ok(idTokens("https://s.example/media/5a94e815-c245-40fd-888f-6c3f3bece7d4?size=60").includes("5a94e815-c245-40fd-888f-6c3f3bece7d4"));
});

// ---- the attributes shops keep their real picture in ------------------------------------------------

const fakeElement = (attrs) => ({
  getAttributeNames: () => Object.keys(attrs),
  getAttribute: (name) => attrs[name] ?? null,
});
const sources = (attrs, shown = 400) => JSON.parse(JSON.stringify(detector.attributeSources(fakeElement(attrs), shown)))
  .sort((a, b) => b.w - a.w);

test("Amazon's data-old-hires outranks its data-a-dynamic-image renditions, which rank by width", () => {
  const found = sources({
    "data-old-hires": "/I/71abc._SL1500_.jpg",
    "data-a-dynamic-image": '{"/I/71abc._SX355_.jpg":[355,426],"/I/71abc._SX679_.jpg":[679,815]}',
  });
  assert.deepEqual(found.map((s) => s.url), [
    "https://shop.example/I/71abc._SL1500_.jpg", "https://shop.example/I/71abc._SX679_.jpg", "https://shop.example/I/71abc._SX355_.jpg",
  ]);
  assert.deepEqual(JSON.parse(JSON.stringify(detector.parseDynamicImage("{not json"))), []);
});

test("a lazy picture in an attribute of the shop's own naming is read; thumbnails' and hover pictures' are not", () => {
  const found = sources({ "data-lazy-img": "/img/coat-1.jpg", "data-thumb": "/img/coat-1-t.jpg", "data-hover-src": "/img/coat-2.jpg", "data-product-id": "4411" });
  assert.deepEqual(found.map((s) => [s.url, s.via]), [["https://shop.example/img/coat-1.jpg", "data-lazy-img"]]);
  // the lazy-loaders' own attributes rank above it, a zoom attribute above all
  const ranked = sources({ "data-lazy-img": "/img/a.jpg", "data-src": "/img/b.jpg", "data-zoom-image": "/img/c.jpg" });
  assert.deepEqual(ranked.map((s) => s.url.split("/").pop()), ["c.jpg", "b.jpg", "a.jpg"]);
});

test("inline pictures and over-long strings are never addresses, and cost no parsing", () => {
  const preview = `data:image/jpeg;base64,${"A".repeat(200000)}`; // Amazon keeps previews like this in src
  assert.equal(absolute(preview), null);
  assert.equal(absolute("  blob:https://shop.example/1234"), null);
  assert.equal(absolute(`https://shop.example/${"a".repeat(5000)}.jpg`), null);
  assert.equal(absolute(" https://shop.example/a.jpg "), "https://shop.example/a.jpg");
});

test("a picture's attributes are read by the names it has: zoom first, then srcset widths, lazy, other data-*", () => {
  const attributes = {
    src: "/tee-400.jpg", srcset: "/tee-400.jpg 400w, /tee-800.jpg 800w", "data-zoom-image": "/tee-2000.jpg",
    "data-src": "/tee-lazy.jpg", "data-gallery-full": "/img/tee-full.jpg", "data-thumb": "/img/tee-thumb.jpg",
  };
  const asked = [];
  const element = {
    getAttributeNames: () => Object.keys(attributes),
    getAttribute: (name) => { asked.push(name); return attributes[name] ?? null; },
  };
  const found = JSON.parse(JSON.stringify(detector.attributeSources(element, 300)));
  assert.deepEqual(found.map((s) => [s.via, s.url.replace("https://shop.example", "")]), [
    ["data-zoom-image", "/tee-2000.jpg"], ["srcset", "/tee-400.jpg"], ["srcset", "/tee-800.jpg"],
    ["data-src", "/tee-lazy.jpg"], ["data-gallery-full", "/img/tee-full.jpg"],
  ]);
  // only attributes the element has were asked for (not the fifty-odd names shops use)
  assert.ok(asked.every((name) => name in attributes), asked.join(", "));
});
