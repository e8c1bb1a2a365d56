"""A generated image task that needs translation-invariant features: shapes on textures."""

from __future__ import annotations

import numpy as np

SHAPES = ("disk", "square", "cross", "ring")


def make_shapes(
    n_images: int = 1000, *, size: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Colored shapes at random places on noisy random-colored backgrounds: which shape is it?

    Each ``size x size x 3`` uint8 image holds one disk, square, cross or ring of a random
    radius (a quarter to two fifths of the image), center and color, on a background of a random
    color (dark under a light shape, light under a dark one) with a striped texture of random
    orientation, and pixel noise. The class is the
    shape: colors, place and texture carry no information, so a linear model on the pixels
    does little better than chance while a small convolutional network learns it.

    Args:
        n_images: Number of images (classes balanced up to one).
        size: Height and width in pixels (at least 8).
        seed: Seeds every random draw.

    Returns:
        ``(images, labels)``: uint8 ``(n_images, size, size, 3)`` and int ``(n_images,)`` in
        ``0..3`` (the index in ``SHAPES``).

    Example:
        >>> images, labels = make_shapes(8, size=16)
        >>> images.shape, images.dtype.name, sorted(set(labels.tolist()))
        ((8, 16, 16, 3), 'uint8', [0, 1, 2, 3])
    """
    if size < 8:
        raise ValueError(f"`size` must be at least 8 pixels, got {size!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_images) % len(SHAPES))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n_images, size, size, 3), np.uint8)
    for i, label in enumerate(labels):
        radius = rng.uniform(size / 4, size / 2.5)
        cy, cx = rng.uniform(radius, size - radius, 2)
        dy, dx = rows - cy, cols - cx
        shape = SHAPES[label]
        if shape == "disk":
            mask = dy**2 + dx**2 <= radius**2
        elif shape == "square":
            mask = (np.abs(dy) <= radius * 0.8) & (np.abs(dx) <= radius * 0.8)
        elif shape == "cross":
            arm = radius / 3
            mask = ((np.abs(dy) <= arm) | (np.abs(dx) <= arm)) & (np.maximum(
                np.abs(dy), np.abs(dx)) <= radius)  # fmt: skip
        else:
            distance = np.sqrt(dy**2 + dx**2)
            mask = (distance <= radius) & (distance >= radius * 0.55)
        angle = rng.uniform(0, np.pi)
        stripes = np.sin((rows * np.cos(angle) + cols * np.sin(angle)) * rng.uniform(0.5, 1.5))
        dark, light = rng.uniform(0, 100, 3), rng.uniform(155, 255, 3)
        ground, ink = (dark, light) if rng.random() < 0.5 else (light, dark)
        image = np.where(mask[..., None], ink, ground + 20 * stripes[..., None])
        image += rng.normal(0, 12, image.shape)
        images[i] = np.clip(image, 0, 255).astype(np.uint8)
    return images, labels
