// Step 1, "You": the fitting profiles (your photos), choosing one, saving one, estimating a size.

import { ApiError, api } from "./api.js";
import { $, busy, confirmAction, h, toast } from "./dom.js";
import { errorText, nextStep } from "./errors.js";
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

export async function loadProfiles() {
  const { items } = await api.listProfiles();
  state.profiles = items;
  if (!selectedProfile()) selectProfile(items[0]?.profile_id || null);
  else renderProfiles();
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

function renderProfiles() {
  const list = $("profile-list");
  list.replaceChildren(...state.profiles.map((profile) => {
    const selected = profile.profile_id === state.selectedProfileId;
    const name = profile.name || "My photo";
    const error = h("p", { class: "profile-error", role: "alert" });
    const estimate = profile.height_cm
      ? h("button", {
          type: "button", class: "button small ghost",
          onclick: (event) => estimateSize(profile, event.currentTarget, error),
        }, profile.measurements ? "Estimate again" : "Estimate my size")
      : null;
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
        estimate,
        h("button", {
          type: "button", class: "button small ghost danger-text", "aria-label": `Delete the photo ${name}`,
          onclick: () => deleteProfile(profile),
        }, "Delete")),
      error);
  }));
  // with photos saved, adding another is a fold-out; with none, the form is the first thing seen
  const details = $("add-profile");
  const hasProfiles = state.profiles.length > 0;
  details.classList.toggle("collapsible", hasProfiles);
  $("add-profile-summary").textContent = "Add another photo of yourself";
  if (!hasProfiles) details.open = true;
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

async function deleteProfile(profile) {
  const ok = await confirmAction({
    title: "Delete this photo?",
    text: "The photo is removed from this computer. Try-ons made with it stay in your archive.",
    ok: "Delete photo",
  });
  if (!ok) return;
  try {
    await api.deleteProfile(profile.profile_id);
    if (state.selectedProfileId === profile.profile_id) state.selectedProfileId = null;
    await loadProfiles();
    toast("Photo deleted.");
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
    toast("Photo saved. Now choose a garment.");
  } catch (err) {
    message.textContent = `${errorText(err)} ${err instanceof ApiError ? nextStep(err.code, err.status) : ""}`.trim();
  }
}
