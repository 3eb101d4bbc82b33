"""Agreement of two experts' lesion marks: overlap (IoU, Dice) of boxes and polygons, matching of marks by a fixed
rule, and the per-lesion summary over cases.

A mark lies on one image (``image``: any hashable, e.g. the SOP instance UID and frame) and is a box (two
corners), a point or a simple polygon (3 or more vertices, edges not crossing), in image pixels. Boxes and polygons
are compared by their areas; points by their distance. Marks on different images never overlap.

Areas are exact: a polygon's by the shoelace formula, the intersection of two simple polygons (convex or not) by
Green's theorem over the boundary of the intersection, which is made of the parts of each polygon's edges that lie
inside the other (plus the shared edges running the same way), so that
area(A n B) = 1/2 sum over those pieces (x1 y2 - x2 y1) with both polygons counter-clockwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

BOX, POINT, POLYGON = "box", "point", "polygon"
AREA_KINDS = (BOX, POLYGON)
_EPS = 1e-9


@dataclass(frozen=True)
class Mark:
    kind: str  # box | point | polygon
    image: object
    points: tuple[tuple[float, float], ...]

    def polygon(self) -> np.ndarray:
        """The mark's outline as vertices (n, 2), counter-clockwise; a box's four corners."""
        vertices = np.asarray(self.points, dtype=float)
        if self.kind == BOX:
            (x0, y0), (x1, y1) = vertices.min(axis=0), vertices.max(axis=0)
            vertices = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return vertices if signed_area(vertices) >= 0 else vertices[::-1]

    def centre(self) -> tuple[float, float]:
        if self.kind == POINT:
            return float(self.points[0][0]), float(self.points[0][1])
        return polygon_centroid(self.polygon())

    def radius(self) -> float | None:
        """Distance from the centre to the farthest vertex (a circle holding the mark); None for a point."""
        if self.kind == POINT:
            return None
        return float(np.max(np.hypot(*(self.polygon() - np.array(self.centre())).T)))


def signed_area(vertices: np.ndarray) -> float:
    """Shoelace formula: positive when the vertices run counter-clockwise (y up)."""
    x, y = np.asarray(vertices, dtype=float).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def polygon_centroid(vertices: np.ndarray) -> tuple[float, float]:
    x, y = np.asarray(vertices, dtype=float).T
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < _EPS:
        return float(x.mean()), float(y.mean())
    return (float(np.sum((x + np.roll(x, -1)) * cross) / (6 * area)),
            float(np.sum((y + np.roll(y, -1)) * cross) / (6 * area)))


def is_simple(vertices: np.ndarray) -> bool:
    """Whether the polygon's edges meet only at the shared vertices of neighbouring edges, and it has an area."""
    v = np.asarray(vertices, dtype=float)
    n = len(v)
    if n < 3 or abs(signed_area(v)) < _EPS:
        return False
    starts, ends = v, np.roll(v, -1, axis=0)
    for i in range(n):
        others = [j for j in range(n) if j != i and j != (i + 1) % n and j != (i - 1) % n]
        if others and _segments_touch(starts[i], ends[i], starts[others], ends[others]).any():
            return False
    return True


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _segments_touch(p, q, starts, ends) -> np.ndarray:
    """Whether segment p-q meets each of the segments starts-ends (crossing, touching or overlapping)."""
    d, s = q - p, ends - starts
    o1, o2 = _cross(d, starts - p), _cross(d, ends - p)
    o3, o4 = _cross(s, p - starts), _cross(s, q - starts)
    proper = (np.sign(o1) * np.sign(o2) < 0) & (np.sign(o3) * np.sign(o4) < 0)

    def on(a, b, c, o):  # c collinear with a-b and within its bounding box
        low, high = np.minimum(a, b) - _EPS, np.maximum(a, b) + _EPS
        return (np.abs(o) < _EPS) & np.all((low <= c) & (c <= high), axis=-1)

    pp, qq = np.broadcast_to(p, starts.shape), np.broadcast_to(q, starts.shape)
    return proper | on(pp, qq, starts, o1) | on(pp, qq, ends, o2) | on(starts, ends, pp, o3) | on(starts, ends, qq, o4)


def intersection_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area common to two simple counter-clockwise polygons (see the module's notes)."""
    total = _inside_pieces(a, b, keep_shared=True) + _inside_pieces(b, a, keep_shared=False)
    return max(0.5 * total, 0.0)


def _inside_pieces(a: np.ndarray, b: np.ndarray, *, keep_shared: bool) -> float:
    """sum of (x1 y2 - x2 y1) over the pieces of ``a``'s edges inside ``b``; with ``keep_shared``, also over the
    pieces lying on an edge of ``b`` that runs the same way (counted once, from ``a``)."""
    b_starts, b_ends = b, np.roll(b, -1, axis=0)
    b_dirs = b_ends - b_starts
    total = 0.0
    for p, q in zip(a, np.roll(a, -1, axis=0), strict=True):
        d = q - p
        cuts = [0.0, 1.0, *_crossings(p, d, b_starts, b_dirs)]
        cuts = np.unique(np.clip(cuts, 0.0, 1.0))
        for t0, t1 in zip(cuts[:-1], cuts[1:], strict=True):
            if t1 - t0 < _EPS:
                continue
            start, end = p + t0 * d, p + t1 * d
            where = _locate((start + end) / 2, d, b, b_starts, b_dirs)
            if where == "inside" or (keep_shared and where == "same_edge"):
                total += start[0] * end[1] - end[0] * start[1]
    return total


def _crossings(p, d, starts, dirs) -> list[float]:
    """Parameters t along p + t d where it meets the segments starts + u dirs, or passes one of their ends."""
    denominator = _cross(d, dirs)
    offsets = starts - p
    crossing = np.abs(denominator) > _EPS
    t = np.where(crossing, _cross(offsets, dirs) / np.where(crossing, denominator, 1), np.nan)
    u = np.where(crossing, _cross(offsets, d) / np.where(crossing, denominator, 1), np.nan)
    hits = t[crossing & (u >= -_EPS) & (u <= 1 + _EPS)].tolist()
    length2 = float(d @ d)
    for vertex in starts:  # vertices of the other polygon lying on this edge (collinear overlaps)
        along = float((vertex - p) @ d) / length2
        if abs(_cross(d, vertex - p)) / np.sqrt(length2) < _EPS * max(1.0, np.sqrt(length2)):
            hits.append(along)
    return hits


def _locate(point, direction, polygon, starts, dirs) -> str:
    """'inside', 'outside', or on an edge of ``polygon`` running the 'same_edge' or 'opposite_edge' way."""
    rel = point - starts
    lengths = np.hypot(dirs[:, 0], dirs[:, 1])
    distance = np.abs(_cross(dirs, rel)) / lengths
    along = np.einsum("ij,ij->i", rel, dirs) / lengths**2
    on = (distance < 1e-7 * np.maximum(1.0, lengths)) & (along >= -_EPS) & (along <= 1 + _EPS)
    if on.any():
        same = np.einsum("ij,j->i", dirs[on], direction) > 0
        return "same_edge" if same.any() else "opposite_edge"
    x, y = point
    ys, ye = polygon[:, 1], np.roll(polygon[:, 1], -1)
    xs, xe = polygon[:, 0], np.roll(polygon[:, 0], -1)
    straddles = (ys > y) != (ye > y)
    x_at = xs + (y - ys) * (xe - xs) / np.where(straddles, ye - ys, 1)
    return "inside" if np.count_nonzero(straddles & (x_at > x)) % 2 else "outside"


def iou(first: Mark, second: Mark) -> float:
    """Intersection over union of two boxes or polygons (0 on different images)."""
    common, union = _overlap(first, second)
    return common / union if union > 0 else 0.0


def dice(first: Mark, second: Mark) -> float:
    """2 |A n B| / (|A| + |B|) of two boxes or polygons (0 on different images)."""
    common, union = _overlap(first, second)
    return 2 * common / (union + common) if union > 0 else 0.0


def _overlap(first: Mark, second: Mark) -> tuple[float, float]:
    if first.kind not in AREA_KINDS or second.kind not in AREA_KINDS:
        raise ValueError("overlap is defined for boxes and polygons; points are compared by distance")
    a, b = first.polygon(), second.polygon()
    areas = signed_area(a) + signed_area(b)
    if first.image != second.image:
        return 0.0, areas
    common = intersection_area(a, b)
    return common, areas - common


def distance(first: Mark, second: Mark) -> float:
    """Distance between two marks' centres, in pixels (infinite on different images)."""
    if first.image != second.image:
        return float("inf")
    (x0, y0), (x1, y1) = first.centre(), second.centre()
    return float(np.hypot(x1 - x0, y1 - y0))


@dataclass(frozen=True)
class MatchedPair:
    first: int  # index in the first expert's marks
    second: int
    iou: float | None  # boxes and polygons
    dice: float | None
    distance: float  # between the centres


@dataclass(frozen=True)
class Matching:
    pairs: tuple[MatchedPair, ...]
    unmatched_first: tuple[int, ...]
    unmatched_second: tuple[int, ...]

    @property
    def complete(self) -> bool:
        return not self.unmatched_first and not self.unmatched_second


def match_marks(first: list[Mark], second: list[Mark], *, iou_threshold: float, point_radius: float) -> Matching:
    """Pair two experts' marks of one case by a fixed rule.

    Boxes and polygons are paired one to one by the assignment of largest total IoU (Hungarian method,
    scipy.optimize.linear_sum_assignment), and a pair is kept only where its IoU >= ``iou_threshold`` (> 0).
    Points are paired with points by the assignment of least total distance, a pair kept only where the distance
    <= ``point_radius``. A point never pairs with a box or polygon.
    """
    pairs: list[MatchedPair] = []
    for kinds in (AREA_KINDS, (POINT,)):
        i_idx = [i for i, mark in enumerate(first) if mark.kind in kinds]
        j_idx = [j for j, mark in enumerate(second) if mark.kind in kinds]
        if not i_idx or not j_idx:
            continue
        if kinds == AREA_KINDS:
            score = np.array([[iou(first[i], second[j]) for j in j_idx] for i in i_idx])
            rows, cols = linear_sum_assignment(score, maximize=True)
            keep = [(r, c) for r, c in zip(rows, cols, strict=True) if score[r, c] >= iou_threshold and score[r, c] > 0]
        else:
            far = np.array([[distance(first[i], second[j]) for j in j_idx] for i in i_idx])
            rows, cols = linear_sum_assignment(np.where(np.isfinite(far), far, 1e18))
            keep = [(r, c) for r, c in zip(rows, cols, strict=True) if far[r, c] <= point_radius]
        for r, c in keep:
            a, b = first[i_idx[r]], second[j_idx[c]]
            area = kinds == AREA_KINDS
            pairs.append(MatchedPair(i_idx[r], j_idx[c], iou(a, b) if area else None, dice(a, b) if area else None,
                                     distance(a, b)))
    pairs.sort(key=lambda pair: pair.first)
    paired_first, paired_second = {p.first for p in pairs}, {p.second for p in pairs}
    return Matching(tuple(pairs), tuple(i for i in range(len(first)) if i not in paired_first),
                    tuple(j for j in range(len(second)) if j not in paired_second))


@dataclass(frozen=True)
class LesionAgreement:
    """Overlap of the matched box and polygon pairs over cases, with percentile bootstrap intervals over cases."""

    mean_dice: float
    dice_ci: tuple[float, float]
    mean_iou: float
    iou_ci: tuple[float, float]
    n_pairs: int  # matched boxes and polygons
    n_point_pairs: int
    n_unmatched: int  # marks of either expert left without a partner
    n_cases: int  # cases with at least one mark
    mean_point_distance: float


def lesion_agreement(matchings: list[Matching], *, alpha: float = 0.05, resamples: int = 2000,
                     seed: int = 20240611) -> LesionAgreement:
    """Mean Dice and IoU of the matched area pairs of many cases (one :class:`Matching` per case and pair of
    experts), with percentile bootstrap intervals that resample cases (the pairs of a case are not independent;
    Efron & Tibshirani 1993, ch. 13). The seed is fixed so that the same marks give the same interval."""
    per_case = [[(p.dice, p.iou) for p in m.pairs if p.dice is not None] for m in matchings]
    dices = np.array([d for case in per_case for d, _ in case], dtype=float)
    ious = np.array([i for case in per_case for _, i in case], dtype=float)
    point_distances = [p.distance for m in matchings for p in m.pairs if p.dice is None]
    nan = float("nan")
    summary = dict(
        n_pairs=len(dices), n_point_pairs=len(point_distances),
        n_unmatched=sum(len(m.unmatched_first) + len(m.unmatched_second) for m in matchings),
        n_cases=sum(1 for m in matchings if m.pairs or m.unmatched_first or m.unmatched_second),
        mean_point_distance=float(np.mean(point_distances)) if point_distances else nan,
    )
    if not len(dices):
        return LesionAgreement(nan, (nan, nan), nan, (nan, nan), **summary)
    cases = [np.array(case, dtype=float) for case in per_case if case]
    return LesionAgreement(float(dices.mean()), _bootstrap(cases, 0, alpha, resamples, seed),
                           float(ious.mean()), _bootstrap(cases, 1, alpha, resamples, seed), **summary)


def _bootstrap(cases: list[np.ndarray], column: int, alpha: float, resamples: int, seed: int) -> tuple[float, float]:
    if len(cases) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    sums = np.array([case[:, column].sum() for case in cases])
    counts = np.array([len(case) for case in cases])
    picks = rng.integers(0, len(cases), size=(resamples, len(cases)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)

