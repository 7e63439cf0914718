// Step 1, "You": the fitting profiles (your photos), choosing one, saving one, estimating a size.

import { ApiError, api } from "./api.js";
import { $, busy, confirmAction, h, toast } from "./dom.js";
import { errorText, isPhotoProblem, nextStep } from "./errors.js";
import { showChosenFile } from "./files.js";
import { PROFILE_KEY, state } from "./state.js";

export function selectedProfile() {
  return state.profiles.find((p) => p.profile_id === state.selectedProfileId) || null;
}

export function selectProfile(id, { announce = true } = {}) {
  const changed = id !== state.selectedProfileId;
  state.selectedProfileId = id;
  if (id) localStorage.setItem(PROFILE_KEY, id);
  else localStorage.removeItem(PROFILE_KEY);
  renderProfiles();
  // the extension follows the chosen photo (app.js listens)
  if (changed && announce) window.dispatchEvent(new CustomEvent("tryon:profile-selected", { detail: { id } }));
}

let firstLoad = true;

export async function loadProfiles() {
  const { items } = await api.listProfiles();
  state.profiles = items;
  if (!selectedProfile()) selectProfile(items[0]?.profile_id || null);
  else renderProfiles();
  // a returning visitor has a photo already: the form to add another starts folded, so step 2 is near
  if (firstLoad && items.length) $("add-profile").open = false;
  firstLoad = false;
}

// A size with the neighbour its range reaches ("M or L"), or the chart's sentence when the body is
// outside it; the girths as ranges, never as false precision.
function sizeText(entry) {
  if (!entry) return null;
  if (!entry.size) return entry.message ? "outside the size chart" : null;
  return entry.also ? `${entry.size} or ${entry.also}` : entry.size;
}

function sizeLine(measurements) {
  const sizes = measurements?.sizes || {};
  const top = sizeText(sizes.top);
  if (!top) return null;
  const parts = [];
  if (sizes.bottom) parts.push(`bottom ${sizeText(sizes.bottom)}`);
  for (const name of ["chest", "waist", "hip"]) {
    const m = measurements.measurements?.[name];
    if (m?.low_cm != null) parts.push(`${name} ${Math.round(m.low_cm)}–${Math.round(m.high_cm)} cm`);
  }
  const notes = [sizes.top?.message, sizes.bottom?.message, ...(measurements.notes || [])].filter(Boolean);
  return h("span", { class: "profile-size", title: notes.join("\n") || null },
    `Your size: ${top}`, parts.length ? h("span", { class: "muted" }, ` (${parts.join(", ")})`) : null);
}

// A card is one compact row (about 80 px: a thumbnail, the name, the actions), so that several
// photos do not push step 2 far down the page.
function renderProfiles() {
  const list = $("profile-list");
  list.replaceChildren(...state.profiles.map((profile) => {
    const selected = profile.profile_id === state.selectedProfileId;
    const name = profile.name || "My photo";
    const error = h("p", { class: "profile-error", role: "alert" });
    const heightForm = h("form", { class: "profile-height", hidden: true, novalidate: true });
    const estimate = profile.height_cm
      ? h("button", {
          type: "button", class: "button small ghost profile-estimate",
          onclick: (event) => estimateSize(profile, event.currentTarget, error),
        }, profile.measurements ? "Estimate again" : "Estimate my size")
      : null;
    const height = h("button", {
      type: "button", class: "button small ghost",
      "aria-label": profile.height_cm ? `Change the height of ${name}` : `Add the height of ${name}`,
      title: "Your height: a size estimate needs it",
      onclick: () => editHeight(profile, heightForm, error),
    }, profile.height_cm ? `${Math.round(profile.height_cm)} cm` : "Add height");
    return h("li", { class: "profile", dataset: { selected: String(selected), profileId: profile.profile_id } },
      h("button", {
        type: "button", class: "profile-pick", "aria-pressed": String(selected),
        onclick: () => selectProfile(profile.profile_id),
      },
        h("img", { src: profile.photo_url, alt: "", loading: "lazy" }), // the name below labels the button
        h("span", { class: "profile-meta" },
          h("span", { class: "profile-name" }, name),
          selected ? h("span", { class: "profile-chosen" }, "✓ Selected") : h("span", { class: "muted" }, "Use this photo"),
          sizeLine(profile.measurements))),
      h("div", { class: "profile-actions" },
        height,
        estimate,
        h("button", {
          type: "button", class: "button small ghost danger-text", "aria-label": `Delete the photo ${name}`,
          onclick: () => deleteProfile(profile),
        }, "Delete")),
      heightForm,
      error);
  }));
  // with photos saved, adding another is a fold-out; with none, the form is the first thing seen
  const details = $("add-profile");
  const hasProfiles = state.profiles.length > 0;
  details.classList.toggle("collapsible", hasProfiles);
  $("add-profile-summary").textContent = "Add another photo of yourself";
  if (!hasProfiles) details.open = true;
}

/** The height of a saved profile, added or changed in place (PATCH); a size estimated with another
 * height is cleared by the server, so the card offers a fresh estimate. */
function editHeight(profile, form, errorEl) {
  errorEl.textContent = "";
  const input = h("input", {
    type: "number", min: "50", max: "250", step: "1", inputmode: "numeric", placeholder: "170",
    value: profile.height_cm ? String(Math.round(profile.height_cm)) : null,
    "aria-label": `Height of ${profile.name || "My photo"} in centimetres`,
  });
  const save = h("button", { type: "submit", class: "button small primary" }, "Save height");
  form.replaceChildren(input, h("span", { class: "muted" }, "cm"), save,
    h("button", { type: "button", class: "button small ghost", onclick: () => { form.hidden = true; } }, "Cancel"));
  form.onsubmit = async (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!(Number(value) >= 50 && Number(value) <= 250)) {
      errorEl.textContent = "Give your height in centimetres, between 50 and 250.";
      input.focus();
      return;
    }
    try {
      await busy(save, () => api.setProfileHeight(profile.profile_id, Number(value)));
      await loadProfiles();
      toast("Height saved.");
    } catch (err) {
      errorEl.textContent = errorText(err);
    }
  };
  form.hidden = false;
  input.focus();
}

async function estimateSize(profile, button, errorEl) {
  errorEl.textContent = "";
  try {
    await busy(button, () => api.estimateBody(profile.profile_id, profile.height_cm));
    await loadProfiles();
    toast("Size estimated from your photo.");
  } catch (err) {
    errorEl.textContent = errorText(err);
  }
}

/** What deleting a profile takes with it, said before it happens: the server deletes the try-ons
 * made from its photo too, kept ones included. */
function deleteText(count, kept) {
  if (!count) return "The photo is deleted from this computer. No try-ons were made with it.";
  const tryons = count === 1 ? "the try-on" : count === 2 ? "both try-ons" : `all ${count} try-ons`;
  const keptText = kept ? ` (${kept === count ? (count === 1 ? "it is kept" : "all kept") : `${kept} of them kept`})` : "";
  return `The photo and ${tryons} made with it${keptText} are deleted from this computer. This cannot be undone.`;
}

async function deleteProfile(profile) {
  let fresh = profile;
  try {
    fresh = await api.getProfile(profile.profile_id); // try-ons made since the list was loaded count too
  } catch (err) {
    toast(errorText(err));
    await loadProfiles().catch(() => {});
    return;
  }
  const count = fresh.tryon_count || 0;
  const ok = await confirmAction({
    // with several photos saved, the dialog names the one the shopper pressed Delete on
    title: `Delete the photo “${profile.name || "My photo"}”?`,
    text: deleteText(count, fresh.kept_count || 0),
    ok: count ? `Delete photo and ${count === 1 ? "try-on" : `${count} try-ons`}` : "Delete photo",
  });
  if (!ok) return;
  try {
    await api.deleteProfile(profile.profile_id);
    if (state.selectedProfileId === profile.profile_id) state.selectedProfileId = null;
    await loadProfiles();
    // its try-ons are gone: the stage and the archive must not show dead ones
    window.dispatchEvent(new CustomEvent("tryon:profile-deleted", { detail: { id: profile.profile_id } }));
    toast(count ? "Photo and its try-ons deleted." : "Photo deleted.");
  } catch (err) {
    toast(errorText(err));
  }
}

export async function saveProfile(event) {
  event.preventDefault();
  const message = $("profile-message");
  message.textContent = "";
  const photo = $("photo-input").files[0];
  const height = $("profile-height").value.trim();
  if (!photo) {
    message.textContent = "Choose a photo of yourself first (or drop one on the box above).";
    return;
  }
  if (height && !(Number(height) >= 50 && Number(height) <= 250)) {
    message.textContent = "Give your height in centimetres, between 50 and 250 (or leave it empty).";
    $("profile-height").focus();
    return;
  }
  const form = new FormData();
  form.set("photo", photo);
  form.set("name", $("profile-name").value.trim() || "Me");
  if (height) form.set("height_cm", height);
  try {
    const profile = await busy($("save-profile"), () => api.createProfile(form));
    $("profile-form").reset();
    showChosenFile("photo", null);
    state.profiles = [profile, ...state.profiles.filter((p) => p.profile_id !== profile.profile_id)];
    selectProfile(profile.profile_id);
    $("add-profile").open = false;
    $("tryon-message").textContent = ""; // "Add a photo of yourself first" no longer holds
    toast("Photo saved. Now choose a garment.");
  } catch (err) {
    // a photo refused by the server's check already says what photo to take
    const next = err instanceof ApiError && !isPhotoProblem(err.code) ? nextStep(err.code, err.status) : "";
    message.textContent = `${errorText(err)} ${next}`.trim();
  }
}
