// Errors as the page says them: the server's sentence and what the user can do next.

import { ApiError } from "./api.js";

/** What the user can do about an error, by the server's error code. */
export function nextStep(code, status) {
  switch (code) {
    case "no_person":
    case "person_incomplete":
    case "too_small":
      return "Use a photo where you face the camera and your shoulders to knees are visible, on a plain background: add it under step 1, “You”.";
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
