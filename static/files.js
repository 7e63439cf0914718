// Choosing an image: by file input, by dropping a file or an address on a drop zone, with a preview.

import { $, toast } from "./dom.js";
import { state } from "./state.js";

export function showChosenFile(kind, file) {
  const preview = $(`${kind}-preview`);
  const urlKey = `${kind}PreviewUrl`;
  if (state[urlKey]) URL.revokeObjectURL(state[urlKey]);
  state[urlKey] = file ? URL.createObjectURL(file) : null;
  preview.hidden = !file;
  if (file) preview.src = state[urlKey];
  else preview.removeAttribute("src");
  $(`${kind}-file-name`).textContent = file ? file.name : "";
  $(`${kind}-drop`).dataset.hasFile = String(Boolean(file));
}

export function putFile(input, file) {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
}

/** A drop zone: files dropped on it go into its file input (so the form holds them). */
export function setupDrop(zone, input, onUrl) {
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = [...event.dataTransfer.files].find((f) => f.type.startsWith("image/"));
    if (file) return putFile(input, file);
    // an image dragged from another tab arrives as its address
    const url = event.dataTransfer.getData("text/uri-list").split("\n").find((l) => /^https?:/i.test(l.trim()));
    if (url && onUrl) onUrl(url.trim());
    else if (event.dataTransfer.files.length) toast("That is not an image: use a JPEG, PNG or WebP file.");
  });
}
