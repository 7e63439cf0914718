// "Use the camera": offered only where the device has one; the snapshot becomes the chosen file.

import { $ } from "./dom.js";

export async function setupCamera(onPhoto) {
  const button = $("camera-button");
  const dialog = $("camera-dialog");
  const video = $("camera-video");
  const message = $("camera-message");
  if (!navigator.mediaDevices?.getUserMedia || !navigator.mediaDevices.enumerateDevices) return;
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    if (!devices.some((d) => d.kind === "videoinput")) return;
  } catch {
    return;
  }
  button.hidden = false;
  let stream = null;
  const stop = () => {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
  };

  button.addEventListener("click", async () => {
    message.textContent = "";
    dialog.showModal();
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 } }, audio: false });
      video.srcObject = stream;
    } catch (err) {
      message.textContent = err.name === "NotAllowedError"
        ? "The browser did not allow the camera. Allow it in the address bar, or choose a file instead."
        : "The camera could not be started. Choose a file instead.";
    }
  });
  $("camera-cancel").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", stop);
  $("camera-shoot").addEventListener("click", () => {
    if (!stream || !video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (blob) onPhoto(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      dialog.close();
    }, "image/jpeg", 0.92);
  });
}
