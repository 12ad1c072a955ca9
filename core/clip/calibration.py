"""A fixed set of inputs on which an int8 tower must stay within cosine 0.99 of fp32 before Idlens uses it.

Generated, not shipped: the same pictures (smooth gradients, edges, textures, noise — the range int8 weights meet
in photos) and the same queries (several scripts, names, emoji) every time, so a verdict is reproducible.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

QUERIES = [
    "a dog on the beach", "Anna playing guitar at a birthday party", "two children in the snow",
    "a red car parked in front of a house", "sunset over the mountains", "a plate of pasta on a wooden table",
    "people dancing at a wedding", "a cat sleeping on a sofa", "Łukasz and Zoë hiking", "Аня в парке",
    "王芳在海边", "a city street at night in the rain", "birthday cake 🎂 with candles", "old black and white photo",
    "a man reading a newspaper", "fireworks over a river", "a baby laughing", "a football match in a stadium",
    "flowers in a garden", "a group photo in front of a castle", "documents and receipts", "O'Brien at the pub",
    "a screenshot of a phone", "swimming pool on a summer day",
]


def queries() -> list[str]:
    return list(QUERIES)


def images(n: int = 16, seed: int = 20240501) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = [(640, 480), (480, 640), (800, 450), (512, 512)][i % 4]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([(x / w) * rng.uniform(60, 255), (y / h) * rng.uniform(60, 255),
                         np.full_like(x, rng.uniform(0, 255))], axis=-1)
        base += rng.normal(0, rng.uniform(2, 25), base.shape)          # sensor-like noise
        if i % 3 == 0:                                                 # fine texture
            base += 30 * np.sin(x / rng.uniform(2, 9))[..., None]
        img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 12))):                     # edges and flat areas
            x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
            x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        out.append(img)
    return out
