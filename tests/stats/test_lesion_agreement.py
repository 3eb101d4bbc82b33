"""Overlap, matching and the per-lesion summary of two experts' marks, against hand-computed areas."""

from __future__ import annotations

import numpy as np
import pytest

from mrmc.stats.lesion_agreement import (
    Mark,
    dice,
    distance,
    intersection_area,
    iou,
    is_simple,
    lesion_agreement,
    match_marks,
    signed_area,
)

IMAGE = ("1.2.3", 0)


def square(x, y, side=10.0, image=IMAGE) -> Mark:
    return Mark("polygon", image, ((x, y), (x + side, y), (x + side, y + side), (x, y + side)))


def box(x0, y0, x1, y1, image=IMAGE) -> Mark:
    return Mark("box", image, ((x0, y0), (x1, y1)))


def point(x, y, image=IMAGE) -> Mark:
    return Mark("point", image, ((x, y),))


# An L: the 20 x 20 square without its top-right 10 x 10 quarter (area 300), not convex.
L_SHAPE = Mark("polygon", IMAGE, ((0, 0), (20, 0), (20, 10), (10, 10), (10, 20), (0, 20)))


def test_shoelace_area_of_the_l():
    assert abs(signed_area(np.array(L_SHAPE.points))) == pytest.approx(300)


def test_half_overlapping_squares():
    # overlap 5 x 10 = 50, union 150: IoU 1/3, Dice 100 / 200 = 1/2
    assert iou(square(0, 0), square(5, 0)) == pytest.approx(1 / 3)
    assert dice(square(0, 0), square(5, 0)) == pytest.approx(0.5)


def test_box_against_polygon_and_either_corner_order():
    # the box (0,0)-(10,10) given from its far corner; the triangle (0,0), (10,0), (0,10) has area 50, all inside
    triangle = Mark("polygon", IMAGE, ((0, 0), (0, 10), (10, 0)))  # clockwise: orientation does not matter
    assert iou(box(10, 10, 0, 0), triangle) == pytest.approx(0.5)
    assert dice(box(10, 10, 0, 0), triangle) == pytest.approx(2 * 50 / 150)


def test_concave_polygon_intersections():
    # a 10 x 10 square at (5, 5): 5 x 10 + 5 x 5 = 75 of it is in the L (its top-right quarter is in the notch)
    assert intersection_area(L_SHAPE.polygon(), square(5, 5).polygon()) == pytest.approx(75)
    assert iou(L_SHAPE, square(5, 5)) == pytest.approx(75 / (300 + 100 - 75))
    assert iou(L_SHAPE, square(10, 10)) == 0.0  # the notch itself
    assert intersection_area(L_SHAPE.polygon(), square(0, 0, 20).polygon()) == pytest.approx(300)


def test_identical_and_edge_sharing_marks():
    assert iou(square(0, 0), square(0, 0)) == pytest.approx(1.0)
    assert dice(L_SHAPE, L_SHAPE) == pytest.approx(1.0)
    assert iou(square(0, 0), square(10, 0)) == 0.0  # they only share an edge
    assert iou(square(0, 0), square(0, 0, image=("1.2.3", 1))) == 0.0  # another frame


def test_points_are_compared_by_distance_only():
    assert distance(point(0, 0), point(3, 4)) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="distance"):
        iou(point(0, 0), square(0, 0))


def test_simple_polygons():
    assert is_simple(np.array(L_SHAPE.points))
    assert not is_simple(np.array([(0, 0), (10, 10), (10, 0), (0, 10)]))  # a bow tie
    assert not is_simple(np.array([(0, 0), (10, 0), (20, 0)]))  # no area


def test_matching_takes_the_largest_total_iou_then_the_threshold():
    # first expert: A at (0,0), B at (6,0); second: C at (3,0) overlaps both (IoU 7/13 each), D at (9,0)
    # overlaps B (IoU 7/13) only. Greedy A-C would leave B-D; the assignment A-C + B-D is the largest total.
    first = [square(0, 0), square(6, 0)]
    second = [square(3, 0), square(9, 0), square(100, 100)]
    matching = match_marks(first, second, iou_threshold=0.5, point_radius=10)
    assert [(p.first, p.second) for p in matching.pairs] == [(0, 0), (1, 1)]
    assert matching.pairs[0].iou == pytest.approx(70 / 130)
    assert matching.unmatched_first == () and matching.unmatched_second == (2,)
    assert not matching.complete
    strict = match_marks(first, second, iou_threshold=0.6, point_radius=10)  # 7/13 = 0.54 < 0.6
    assert strict.pairs == () and strict.unmatched_first == (0, 1)


def test_points_match_within_the_radius():
    matching = match_marks([point(0, 0), point(50, 50)], [point(52, 50), point(6, 8), box(0, 0, 5, 5)],
                           iou_threshold=0.5, point_radius=10)
    assert [(p.first, p.second, p.distance) for p in matching.pairs] == [(0, 1, pytest.approx(10.0)),
                                                                         (1, 0, pytest.approx(2.0))]
    assert matching.unmatched_second == (2,)  # a box never pairs with a point
    assert match_marks([point(0, 0)], [point(6, 8)], iou_threshold=0.5, point_radius=9.9).pairs == ()


def test_summary_means_and_counts():
    case_one = match_marks([square(0, 0)], [square(0, 0)], iou_threshold=0.3, point_radius=5)  # Dice 1
    case_two = match_marks([square(0, 0), point(0, 0)], [square(5, 0)], iou_threshold=0.3, point_radius=5)
    summary = lesion_agreement([case_one, case_two])
    assert summary.n_pairs == 2 and summary.n_unmatched == 1 and summary.n_cases == 2
    assert summary.mean_dice == pytest.approx((1 + 0.5) / 2)
    assert summary.mean_iou == pytest.approx((1 + 1 / 3) / 2)
    assert summary.dice_ci[0] == pytest.approx(0.5) and summary.dice_ci[1] == pytest.approx(1.0)


def test_bootstrap_interval_holds_the_mean_and_is_reproducible():
    rng = np.random.default_rng(5)
    cases = [match_marks([square(0, 0)], [square(float(shift), 0)], iou_threshold=0.1, point_radius=5)
             for shift in rng.uniform(0, 4, 40)]
    first, again = lesion_agreement(cases), lesion_agreement(cases)
    assert first.dice_ci == again.dice_ci
    assert first.dice_ci[0] < first.mean_dice < first.dice_ci[1]
    dices = [1 - shift / 10 for shift in np.random.default_rng(5).uniform(0, 4, 40)]  # 2(10-s)10 / 200
    assert first.mean_dice == pytest.approx(np.mean(dices))


def test_summary_without_area_pairs():
    summary = lesion_agreement([match_marks([point(0, 0)], [point(1, 0)], iou_threshold=0.5, point_radius=5)])
    assert np.isnan(summary.mean_dice) and summary.n_point_pairs == 1
    assert summary.mean_point_distance == pytest.approx(1.0)
