// Unit tests of the URL handling inside the content script's detector (static/extension/content/detect.js):
// srcset parsing and the image key that matches a CDN's size variants. Run by
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
  const source = readFileSync(new URL("../../static/extension/content/detect.js", import.meta.url), "utf8");
  vm.runInContext(source, context);
  return context.__tryOn.detect;
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
