"""Blending pieces: face restore, light matching, compositing."""

from __future__ import annotations

import numpy as np

from tryon_server.vision.blend import composite, light_gains, restore_face, shading_map


def test_restore_face_puts_back_the_original_pixels_inside_the_face():
    rng = np.random.default_rng(0)
    original = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)
    result = np.zeros_like(original)
    face = np.zeros((120, 100), bool)
    face[30:90, 20:80] = True
    out = restore_face(result, original, face)
    assert np.array_equal(out[36:84, 26:74], original[36:84, 26:74])
    assert out[:10].max() == 0  # far from the face the result is kept


def test_light_gains_are_neutral_for_white_light_and_warm_for_a_warm_scene():
    white = np.array([250.0, 250.0, 250.0])
    neutral = np.full((64, 64, 3), 250, np.uint8)
    assert np.allclose(light_gains(neutral, white), 1.0, atol=0.02)
    warm = np.zeros((64, 64, 3), np.uint8) + np.array([250, 225, 190], np.uint8)
    g = light_gains(warm, white)
    assert g[0] > g[1] > g[2] and g.min() >= 0.7 * 0.85


def test_shading_keeps_a_fold_and_ignores_a_sharp_colour_edge():
    img = np.full((200, 200, 3), 60, np.uint8)
    img[:, 100:] = 230  # a white shirt next to a dark jacket: albedo, not light
    img[86:98, 20:80] = 40  # a fold in the jacket, a shade darker
    shade = shading_map(img, np.ones((200, 200), bool), scale=200)
    assert shade[92, 50] < 0.9  # the fold darkens the new garment
    assert abs(shade[50, 150] - 1.0) < 0.05 and abs(shade[50, 40] - 1.0) < 0.05
    # right beside the jacket/shirt edge the shading stays near 1 (a plain blur would darken
    # the shirt side and lighten the jacket side by far more)
    assert abs(shade[50, 92] - 1.0) < 0.12 and abs(shade[50, 108] - 1.0) < 0.12


def test_composite_mixes_by_alpha():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.full((2, 2, 3), 200.0, np.float32)
    alpha = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    out = composite(a, b, alpha)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 200 and out[1, 0, 0] == 100 and out[1, 1, 0] == 50
