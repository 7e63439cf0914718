// Errors as the page says them: the server's sentence and what the user can do next.

import { ApiError } from "./api.js";
import { photoNeeds } from "./needs.js";

const PHOTO_PROBLEMS = new Set(["no_person", "person_incomplete", "too_small"]);

/** The error is about the photo of the person (the server's sentence says what photo to take). */
export function isPhotoProblem(code) {
  return PHOTO_PROBLEMS.has(code);
}

/**
 * What the user can do about an error, by the server's error code; for a photo that does not show
 * enough, what the garment's category needs (the server's words: needs.js).
 * @param {string | null} code
 * @param {number} status
 * @param {string} [category] upper, lower or dress: the try-on's
 */
export function nextStep(code, status, category = "upper") {
  if (isPhotoProblem(code)) {
    const needs = photoNeeds[category];
    const body = needs ? ` with your ${needs} in the picture` : "";
    return `Use a photo where you face the camera${body}, on a plain background: add it under step 1, “You”.`;
  }
  switch (code) {
    case "garment_unreadable":
    case "unsupported_image":
    case "unsupported_format":
    case "undecodable_image":
    case "unreadable_image":
    case "empty_file":
      return "Use a JPEG, PNG or WebP image.";
    case "upload_too_large":
    case "payload_too_large":
    case "garment_too_large":
    case "too_many_pixels":
      return "Use a smaller image (under 10 MB), or a screenshot of it.";
    case "bad_garment_url":
    case "garment_url_not_public":
    case "garment_host_unknown":
    case "garment_download_failed":
    case "garment_download_timeout":
      return "Check that the link opens the picture itself, or save the picture and choose it under “From a file”.";
    case "out_of_memory":
      return "Choose a smaller result size under Options and try again.";
    case "queue_full":
    case "not_ready":
    case "too_many_requests":
      return "Wait a minute, then press Try it on again.";
    case "profile_not_found":
      return "That photo was deleted: pick or add another under step 1, “You”.";
    case "network":
      return "Start the server again (python run.py) and reload this page.";
    default:
      return status >= 500 || !status ? "Press Try it on again; if it keeps failing, try another photo." : "Check your photo and garment, then press Try it on again.";
  }
}

export function errorText(err) {
  return err instanceof ApiError ? err.message : "Something went wrong in the page. Reload it and try again.";
}
