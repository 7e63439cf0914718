"""Blending pieces: face restore, light matching, compositing."""

from __future__ import annotations

import numpy as np

from tryon_server.vision.blend import composite, light_gains, print_mask, restore_face, shading_map


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


def test_shading_drops_a_lettered_name_tag_but_keeps_a_fold_beside_it():
    # the new garment takes the old clothes' folds, not their prints: the letters of a name tag
    # showed through a plain new top as a faint ghost (shading spread inside the tag: old
    # 0.009, new 0.002)
    img = np.full((400, 400, 3), 40, np.uint8)
    img[150:180, 100:190] = 200  # a silver name tag on a dark jacket
    img[158:172, 110:180:8] = 30  # its letters
    img[158:172, 111:180:8] = 30
    xs = np.arange(400)[None, :]
    fold = np.exp(-((xs - 300) ** 2) / (2 * 12.0**2))  # a soft vertical fold, away from the tag
    img = (img * (1 - 0.35 * fold)[..., None]).astype(np.uint8)
    shade = shading_map(img, np.ones((400, 400), bool), scale=300)
    tag = shade[145:185, 95:195]
    assert tag.std() < 0.005 and np.abs(tag - 1.0).max() < 0.03
    assert shade[165, 300] < 0.9  # the fold still darkens the new garment
    assert abs(shade[300, 50] - 1.0) < 0.01


def test_print_mask_finds_a_badge_and_not_a_soft_fold():
    luma = np.full((400, 400), 0.2, np.float32)
    luma[40:70, 40:90] = 0.8  # a badge: sharp, strong edges
    xs = np.arange(400)[None, :]
    luma = luma * (1 - 0.3 * np.exp(-((xs - 250) ** 2) / (2 * 6.0**2))).astype(np.float32)  # a fold
    prints = print_mask(luma)
    assert prints[55, 65] and prints[40, 65]  # inside and on the edge of the badge
    assert not prints[120:, 230:270].any()  # the fold is light, not print
    assert prints.mean() < 0.02

