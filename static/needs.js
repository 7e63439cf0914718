// What photo of yourself each garment category (and a size estimate) needs, in the server's own
// words: /api/health's `photo_needs`, whose one definition (tryon_server/photo_needs.py) the
// server's refusals use too. The page holds no copy: every place that gives this advice is an
// element with data-photo-need="upper|lower|dress|size", filled here.

/** @type {Record<string, string>} */
export const photoNeeds = {};

/** Takes the server's definitions and writes them wherever the page shows them. */
export function setPhotoNeeds(needs) {
  if (!needs || typeof needs !== "object") return;
  Object.assign(photoNeeds, needs);
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-photo-need]"))) {
    el.textContent = photoNeeds[el.dataset.photoNeed] || "";
  }
}
