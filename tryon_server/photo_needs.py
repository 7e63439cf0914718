"""What photo of yourself each garment category (and a size estimate) needs: the one definition.

The engines' refusals (vision/person.py), the size estimate's (measurements.py), the check when a
profile photo is saved (api/profiles.py) and /api/health's `photo_needs` (which the demo page and
the extension show beside the category buttons and in their advice) all take their words from
here, so no two places can tell a shopper different things. No imports: /api/health reads it
without loading MediaPipe.
"""

from __future__ import annotations

from typing import Final

# What must be in the picture, from top to bottom, as the words "with your ... in the picture" take.
# upper: the shoulders must show; hips may be cut off by the frame (vision.person.require_landmarks)
# lower: hips, knees and ankles; dress: shoulders, hips and knees; size: the whole standing body.
PHOTO_NEEDS: Final[dict[str, str]] = {
    "upper": "shoulders to hips",
    "lower": "waist to ankles",
    "dress": "shoulders to knees",
    "size": "head to feet",
}
# What the shopper is trying on, as a sentence starts: "Tops need ..."
NEEDERS: Final[dict[str, str]] = {
    "upper": "Tops",
    "lower": "Trousers and skirts",
    "dress": "Dresses",
    "size": "A size estimate",
}


def needs_sentence(use: str) -> str:
    """'Dresses need a photo of you standing, facing the camera, with your shoulders to knees in
    the picture.' The advice every refusal about a missing body part ends with."""
    standing = "" if use == "upper" else " standing"
    verb = "needs" if use == "size" else "need"
    return (f"{NEEDERS[use]} {verb} a photo of you{standing}, facing the camera, "
            f"with your {PHOTO_NEEDS[use]} in the picture.")


# A profile photo in which no person is found (a product photo, say), refused when it is saved.
PROFILE_NO_PERSON: Final[str] = (
    "No person was found in this photo. Save a photo of yourself, facing the camera, with your "
    f"{PHOTO_NEEDS['size']} in the picture: that suits every garment and a size estimate "
    f"({PHOTO_NEEDS['upper']} is enough for tops).")
