"""Phantom anatomy for the demo images: chest and compressed breast, lesions, noise.

Everything here works on "density" images (0..1, bright = attenuating). Anatomy is
drawn at low resolution from ellipses, curved bands and power-law noise and
upsampled; lesions and quantum noise are added at full resolution.

References
----------
Burgess AE, Jacobson FL, Judy PF. Human observer detection experiments with
mammograms and power-law noise. Med Phys 2001;28(4):419-437.

"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

BITS_STORED = 12
VENDORS = {  # name -> (quantum noise sigma in stored values, contrast gain)
    "Phantom Alpha": (14.0, 1.00),
    "Phantom Beta": (24.0, 0.92),
}
DENSITIES = {"A": 1.1, "B": 0.5, "C": -0.1, "D": -0.7}  # BI-RADS letter -> gland threshold


@dataclass(frozen=True)
class Lesion:
    """A lesion in one image, in pixels; ``contrast`` in display-density units (0..1)."""

    x: float
    y: float
    radius: float
    contrast: float
    spiculated: bool
    shape_seed: int



# --------------------------------------------------------------------- fields

def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates: x across columns and y down rows, both in [-1, 1]."""
    rows, cols = shape
    y = np.linspace(-1, 1, rows, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, cols, dtype=np.float32)[None, :]
    return x, y


def _smooth_step(distance: np.ndarray, edge: float) -> np.ndarray:
    """1 well inside (distance < 0), 0 well outside, a logistic ramp of width ``edge``."""
    return 1.0 / (1.0 + np.exp(np.clip(distance / edge, -30, 30)))


def _soft_ellipse(x, y, cx, cy, ax, ay, edge=0.02) -> np.ndarray:
    radius = np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    return _smooth_step(radius - 1.0, edge)


def _power_law_noise(rng: np.random.Generator, shape: tuple[int, int], beta: float) -> np.ndarray:
    """Gaussian noise with power spectrum 1/f^beta, unit variance (anatomical texture)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    frequency = np.hypot(fx, fy)
    frequency[0, 0] = 1.0
    spectrum = np.fft.rfft2(white) * frequency ** (-beta / 2)
    spectrum[0, 0] = 0.0
    field_ = np.fft.irfft2(spectrum, s=shape).astype(np.float32)
    return field_ / field_.std()


def upsample(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(low.astype(np.float32), mode="F")
    return np.array(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR))


def box_of(mask: np.ndarray, scale: float) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(mask)
    return (int(cols.min() * scale), int(rows.min() * scale),
            int((cols.max() + 1) * scale), int((rows.max() + 1) * scale))


# ---------------------------------------------------------------------- chest

def chest_density(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """PA chest density (0..1, bright = attenuating) and the lung field weight."""
    x, y = _grid(shape)
    jitter = rng.uniform(-1, 1, size=8).astype(np.float32)
    shoulders = _smooth_step((np.abs(x) / 0.95) ** 4 + (np.abs(y + 0.7) / 0.45) ** 4 - 1, 0.05)
    body = np.maximum(_soft_ellipse(x, y, 0, 0.18, 0.84 + 0.05 * jitter[0], 1.05, 0.03), shoulders)
    dome = 0.42 + 0.04 * jitter[1] + 0.45 * ((np.abs(x) - 0.36) / 0.3) ** 2 - 0.04 * (x < 0)
    below_diaphragm = _smooth_step(y - dome, 0.015)
    heart = _soft_ellipse(x, y, 0.11 + 0.03 * jitter[2], 0.3, 0.27 + 0.03 * jitter[3], 0.21, 0.03)
    mediastinum = _smooth_step(np.abs(x) - 0.1 - 0.03 * (y + 1), 0.02) * (y < 0.45)
    lungs = (_soft_ellipse(x, y, -0.37, -0.02, 0.27 + 0.02 * jitter[4], 0.6, 0.03)
             + _soft_ellipse(x, y, 0.38, -0.02, 0.26 + 0.02 * jitter[5], 0.6, 0.03))
    lungs = np.clip(lungs * below_diaphragm - heart - mediastinum, 0, 1)
    texture = _power_law_noise(rng, shape, 2.6)
    density = (0.05 + body * (0.55 + 0.08 * (1 - x ** 2)) + 0.04 * heart
               - 0.36 * lungs + 0.05 * lungs * texture
               + 0.12 * _spine(x, y) * body + 0.07 * _ribs(x, y, jitter[6]) * body
               + 0.06 * _clavicles(x, y))
    return density.astype(np.float32), lungs


def _spine(x, y) -> np.ndarray:
    vertebrae = 0.75 + 0.25 * np.cos(y * 28.0) ** 2  # discs are less dense than bodies
    return _smooth_step(np.abs(x) - 0.065, 0.01) * vertebrae


def _ribs(x, y, shift: float) -> np.ndarray:
    """Ten ribs a side: posterior arcs rising from the spine and falling laterally,
    fainter anterior arcs falling towards the midline."""
    lateral = np.abs(x) - 0.06
    within = _smooth_step(lateral - 0.78, 0.03) * _smooth_step(-lateral, 0.01)
    anterior_span = _smooth_step(0.15 - lateral, 0.03) * within
    ribs = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=np.float32)
    for k in range(10):
        top = -0.7 + 0.02 * shift + 0.105 * k
        thickness = 0.02 + 0.002 * k
        posterior = top - 0.3 * lateral + 0.85 * lateral ** 2
        anterior = top + 0.3 - 0.35 * lateral
        ribs += np.exp(-(((y - posterior) / thickness) ** 2)) * within
        ribs += 0.5 * np.exp(-(((y - anterior) / (1.4 * thickness)) ** 2)) * anterior_span
    return ribs


def _clavicles(x, y) -> np.ndarray:
    centre = -0.66 - 0.12 * (np.abs(x) - 0.1)
    return np.exp(-(((y - centre) / 0.025) ** 2)) * _smooth_step(np.abs(x) - 0.6, 0.03) \
        * _smooth_step(0.08 - np.abs(x), 0.02)


# ---------------------------------------------------------------- mammography

def breast_density(rng: np.random.Generator, shape: tuple[int, int], laterality: str,
                    oblique: bool, gland_threshold: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Compressed-breast density, the breast mask and its normalised geometry.

    Works in ``depth`` (0 at the chest wall, 1 at the far edge) so that the left
    and right breasts are mirror images, chest wall on the image's left for L.
    """
    x, y = _grid(shape)
    depth = (x + 1) / 2 if laterality == "L" else (1 - x) / 2
    reach = rng.uniform(0.6, 0.8)
    centre = 0.12 if oblique else rng.uniform(-0.05, 0.05)
    height = 1.0 if oblique else rng.uniform(0.75, 0.9)
    radius = np.sqrt((depth / reach) ** 2 + ((y - centre) / height) ** 2)
    breast = _smooth_step(radius - 1.0, 0.01)
    thickness = np.sqrt(np.clip(1 - radius ** 2, 0, 1))  # thinner towards the skin line
    glands = _smooth_step(gland_threshold - _power_law_noise(rng, shape, 3.0), 0.25)
    glands *= _smooth_step(radius - 0.85, 0.08)  # glandular tissue stays off the skin
    density = breast * (0.22 + 0.2 * np.sqrt(thickness) + 0.3 * glands * thickness
                        + 0.025 * _power_law_noise(rng, shape, 2.0))
    if oblique:
        pectoral = _smooth_step(depth - 0.28 * (1 - (y + 1) / 1.3), 0.01)
        density = np.maximum(density, (0.5 + 0.5 * np.clip(0.28 - depth, 0, None)) * pectoral)
    geometry = {"reach": reach, "centre": centre, "height": height}
    return density.astype(np.float32), breast > 0.5, geometry


# -------------------------------------------------------------------- lesions

def add_lesion(density: np.ndarray, lesion: Lesion) -> None:
    """Add a lesion to a full-resolution density image, in place.

    A sphere's projected thickness, sqrt(1 - r^2/R^2), with a lobulated border;
    spiculated lesions get radiating spicules up to 2.2 radii long.
    """
    reach = lesion.radius * (2.3 if lesion.spiculated else 1.2)
    top, left = int(max(lesion.y - reach, 0)), int(max(lesion.x - reach, 0))
    bottom = int(min(lesion.y + reach + 1, density.shape[0]))
    right = int(min(lesion.x + reach + 1, density.shape[1]))
    dy = np.arange(top, bottom, dtype=np.float32)[:, None] - lesion.y
    dx = np.arange(left, right, dtype=np.float32)[None, :] - lesion.x
    distance = np.hypot(dx, dy)
    angle = np.arctan2(dy, dx)
    shape_rng = np.random.default_rng(lesion.shape_seed)
    phases = shape_rng.uniform(0, 2 * np.pi, 3)
    border = lesion.radius * (1 + 0.08 * np.sin(3 * angle + phases[0]) + 0.05 * np.sin(5 * angle + phases[1]))
    body = np.sqrt(np.clip(1 - (distance / border) ** 2, 0, 1))
    if lesion.spiculated:
        body = np.maximum(body, _spicules(distance, angle, lesion.radius, shape_rng))
    density[top:bottom, left:right] += lesion.contrast * body


def _spicules(distance, angle, radius, rng) -> np.ndarray:
    count = int(rng.integers(8, 16))
    directions = rng.uniform(0, 2 * np.pi, count)
    lengths = radius * rng.uniform(1.4, 2.2, count)
    width = max(radius * 0.06, 1.5)
    spicules = np.zeros_like(distance)
    for direction, length in zip(directions, lengths, strict=True):
        across = distance * np.abs(np.sin(angle - direction))
        along = distance * np.cos(angle - direction)
        strength = np.clip(1 - along / length, 0, 1) * (along > 0)
        spicules = np.maximum(spicules, 0.45 * strength * np.exp(-((across / width) ** 2)))
    return spicules


def pick_inside(rng: np.random.Generator, weight: np.ndarray, threshold: float) -> tuple[float, float]:
    """A random (x, y), in units of ``weight``'s pixels, where weight exceeds threshold."""
    rows, cols = np.nonzero(weight > threshold)
    index = rng.integers(len(rows))
    return cols[index] + rng.uniform(0, 1), rows[index] + rng.uniform(0, 1)


# ----------------------------------------------------------------- pixels

def to_stored(density: np.ndarray, rng: np.random.Generator, vendor: str) -> np.ndarray:
    """Density to 12-bit stored values plus quantum noise (uniform sigma after processing)."""
    sigma, gain = VENDORS[vendor]
    values = density * (3700.0 * gain) + 180.0
    values += rng.standard_normal(values.shape, dtype=np.float32) * sigma
    return np.clip(values, 0, 2 ** BITS_STORED - 1).astype(np.uint16)
