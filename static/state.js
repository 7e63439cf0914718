// What the page knows between events, shared by its parts (profiles, try-on, archive, app).

export const PROFILE_KEY = "tryon.profileId";
export const RUNNING_KEY = "tryon.runningSession"; // a try-on being watched survives a reload

export const state = {
  profiles: [],
  selectedProfileId: localStorage.getItem(PROFILE_KEY),
  running: null, // {id, abort: AbortController} of the try-on being watched
  shown: null, // the session on the stage (completed)
  archive: { cursors: [null], page: 0, next: null, items: [] },
  garmentPreviewUrl: null,
  photoPreviewUrl: null,
};

export function emptyArchive() {
  return { cursors: [null], page: 0, next: null, items: [] };
}
