"""Reusable computer-vision stages of the try-on pipeline (no HTTP, no engine state).

    person    - MediaPipe pose + person mask + face/hands, cached by photo hash (stage 1-2)
    regions   - the body area a garment category covers (also the diffusion inpainting mask)
    garment   - cut the garment out of its product photo and find its own key points
    warp      - thin-plate-spline warp of the garment onto the body key points (stage 3)
    blend     - shading transfer, colour matching, feathered compositing, face restore (stage 5)

Every module works on numpy arrays in RGB order, pixel coordinates of the analysed image.
"""
