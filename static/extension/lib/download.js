// Downloading a product image from the service worker. The extension has host permission for
// shops, so this fetch is not bound by CORS and carries the shopper's cookies for the shop: images
// behind hotlink protection or a login come through where a server-side download would fail.

export const MAX_BYTES = 10 * 1024 * 1024; // the server's default upload limit
const ACCEPTED = new Set(["image/jpeg", "image/png", "image/webp"]);
const EXTENSIONS = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };

/** The real type from the first bytes: CDNs often send octet-stream or a wrong type. */
function sniff(bytes) {
  const b = new Uint8Array(bytes.slice(0, 16));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return "image/png";
  const ascii = String.fromCharCode(...b);
  if (ascii.startsWith("RIFF") && ascii.slice(8, 12) === "WEBP") return "image/webp";
  if (ascii.startsWith("GIF8")) return "image/gif";
  if (ascii.slice(4, 12).startsWith("ftypavi")) return "image/avif";
  return null;
}

function fileName(url, type) {
  const last = new URL(url).pathname.split("/").filter(Boolean).pop() || "garment";
  const stem = decodeURIComponent(last).replace(/\.[a-z0-9]{2,5}$/i, "").replace(/[^\w.-]+/g, "_").slice(0, 60) || "garment";
  return `${stem}.${EXTENSIONS[type]}`;
}

/**
 * @param {string} url an http(s) image address
 * @returns {Promise<{blob: Blob, filename: string}>} a JPEG, PNG or WebP the server accepts
 */
export async function downloadImage(url) {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new Error("the image address is not http(s)");
  }
  const response = await fetch(parsed.href, { credentials: "include", signal: AbortSignal.timeout(20000) });
  if (!response.ok) throw new Error(`the shop answered ${response.status}`);
  const declared = Number(response.headers.get("content-length") || 0);
  if (declared > MAX_BYTES) throw new Error("the image is larger than 10 MB");
  const bytes = await response.arrayBuffer();
  if (bytes.byteLength > MAX_BYTES) throw new Error("the image is larger than 10 MB");
  const type = sniff(bytes) || (response.headers.get("content-type") || "").split(";")[0].trim();
  if (ACCEPTED.has(type)) {
    return { blob: new Blob([bytes], { type }), filename: fileName(parsed.href, type) };
  }
  // AVIF, GIF, BMP...: shops serve them, the server takes only JPEG/PNG/WebP. Re-encode here.
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes], { type: type || "application/octet-stream" }));
  } catch {
    throw new Error(`the file is not an image this browser can read (${type || "unknown type"})`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  const png = await canvas.convertToBlob({ type: "image/png" });
  if (png.size > MAX_BYTES) throw new Error("the image is larger than 10 MB once converted");
  return { blob: png, filename: fileName(parsed.href, "image/png") };
}
