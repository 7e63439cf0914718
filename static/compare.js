// The before/after slider: the result lies over the original photo and is clipped at the split;
// a transparent range input on top takes mouse, touch and keyboard.

import { $ } from "./dom.js";

export function setupCompare() {
  const box = $("compare");
  const range = $("compare-range");
  const result = $("result-image");
  const apply = () => box.style.setProperty("--split", `${range.value}%`);
  range.addEventListener("input", apply);
  // frame the pair at the result's own proportions, so neither image is letterboxed
  result.addEventListener("load", () => {
    if (result.naturalWidth && result.naturalHeight) {
      const ratio = result.naturalWidth / result.naturalHeight;
      box.style.aspectRatio = `${result.naturalWidth} / ${result.naturalHeight}`;
      // as wide as the column allows, but never taller than 72% of the screen
      box.style.width = `min(100%, calc(72vh * ${ratio.toFixed(4)}))`;
    }
  });
  apply();
  return {
    show(beforeUrl, afterUrl) {
      $("before-image").src = beforeUrl || "";
      result.src = afterUrl;
      range.value = "50";
      apply();
    },
  };
}
