"""Synthetic cases, their truth and AI outputs, and the demo set on disk.

Each case uses separate random streams for its metadata, anatomy, noise, lesion
and AI output, so the diseased and the healthy version of one seed differ only by
the lesion.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from scipy.special import ndtr, ndtri

from .datasets import MG_VIEWS, CaseMeta, case_uid, dx_dataset, mg_dataset
from .phantom import (
    DENSITIES,
    VENDORS,
    Lesion,
    add_lesion,
    box_of,
    breast_density,
    chest_density,
    pick_inside,
    to_stored,
    upsample,
)

ANATOMY_DOWNSAMPLING = 4
TRUTH_METHOD = "synthetic lesion insertion (known location)"
AI_MODEL = {"name": "MRMC Demo Detector", "version": "1.0.0"}
AI_TARGET_AUC = 0.85
# Binormal model: AUC = Phi(d' / sqrt 2), so d' = sqrt 2 * Phi^-1(AUC).
AI_SEPARATION = float(np.sqrt(2) * ndtri(AI_TARGET_AUC))

SITES = ("SITE-A", "SITE-B", "SITE-C")
AGE_BANDS = ((40, 49), (50, 59), (60, 69), (70, 79))


@dataclass(frozen=True)
class LesionMark:
    """Where a lesion is in one image: pixel column ``x``, row ``y``, ``radius`` in pixels."""

    sop_instance_uid: str
    frame: int
    x: float
    y: float
    radius: float
    view: str


@dataclass(frozen=True)
class ViewInfo:
    """One image of a case and the box (x0, y0, x1, y1) of its anatomy."""

    sop_instance_uid: str
    view: str
    rows: int
    columns: int
    anatomy_box: tuple[int, int, int, int]


@dataclass(frozen=True)
class CaseTruth:
    """Reference standard and subgroup metadata of one synthetic case."""

    case_id: str
    study_instance_uid: str
    diseased: bool
    modality: str
    lesions: tuple[LesionMark, ...]
    views: tuple[ViewInfo, ...]
    lesion_kind: str = ""
    lesion_diameter_mm: float | None = None
    lesion_contrast: float | None = None
    subgroups: dict[str, str] = field(default_factory=dict)



@dataclass(frozen=True)
class DemoSet:
    """Files written by :func:`make_demo_set`."""

    image_paths: tuple[Path, ...]
    truth_csv: Path
    ai_outputs_json: Path
    truths: tuple[CaseTruth, ...]


class _Streams:
    """Independent random streams of one case (numpy SeedSequence spawning)."""

    def __init__(self, seed: int | np.random.Generator):
        parent = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.meta, self.anatomy, self.noise, self.lesion, self.ai = parent.spawn(5)


# ---------------------------------------------------------------------- cases

def _case_meta(case_id: str, streams: _Streams, modality: str, subgroups: dict | None) -> tuple[CaseMeta, dict]:
    rng = streams.meta
    uid_entropy = int(rng.integers(2 ** 62))
    low, high = AGE_BANDS[int(rng.integers(len(AGE_BANDS)))]
    drawn = {
        "age_band": f"{low}-{high}",
        "sex": "F" if modality == "MG" else str(rng.choice(["F", "M"])),
        "density": str(rng.choice(list(DENSITIES))) if modality == "MG" else "",
        "site": str(rng.choice(SITES)),
        "vendor": str(rng.choice(list(VENDORS))),
    }
    drawn.update(subgroups or {})
    band_low, band_high = map(int, drawn["age_band"].split("-"))
    age = int(rng.integers(band_low, band_high + 1))
    study_date = dt.date(2024, 1, 1) + dt.timedelta(days=int(rng.integers(365)))
    study_uid = case_uid(uid_entropy, case_id, "study")
    meta = CaseMeta(case_id, study_uid, study_date, age, drawn["sex"], drawn["site"], drawn["vendor"],
                     uid_entropy)
    return meta, drawn


def _lesion_size(rng: np.random.Generator, diameter_mm: tuple[float, float], spacing_mm: float,
                 contrast: tuple[float, float]) -> tuple[float, float, bool]:
    """Radius in pixels, contrast and whether spiculated (40 % of lesions)."""
    radius = float(rng.uniform(*diameter_mm)) / 2 / spacing_mm
    return radius, float(rng.uniform(*contrast)), bool(rng.random() < 0.4)


def _make_chest_case(diseased, streams, meta, shape, spacing_mm):
    low_shape = (shape[0] // ANATOMY_DOWNSAMPLING, shape[1] // ANATOMY_DOWNSAMPLING)
    low, lungs = chest_density(streams.anatomy, low_shape)
    density = upsample(low, shape)
    lesions, kind = [], ""
    if diseased:
        radius, contrast, spiculated = _lesion_size(streams.lesion, (8, 30), spacing_mm, (0.05, 0.11))
        x, y = pick_inside(streams.lesion, lungs, 0.97)
        lesion = Lesion(x * ANATOMY_DOWNSAMPLING, y * ANATOMY_DOWNSAMPLING, radius, contrast, spiculated,
                        int(streams.lesion.integers(2 ** 31)))
        add_lesion(density, lesion)
        lesions, kind = [("PA", lesion)], "spiculated nodule" if spiculated else "nodule"
    ds = dx_dataset(meta, to_stored(density, streams.noise, meta.vendor), spacing_mm)
    views = [ViewInfo(ds.SOPInstanceUID, "PA", shape[0], shape[1], box_of(lungs > 0.5, ANATOMY_DOWNSAMPLING))]
    return [ds], views, lesions, kind


def _make_mammo_case(diseased, streams, meta, shape, spacing_mm, density_letter):
    low_shape = (shape[0] // ANATOMY_DOWNSAMPLING, shape[1] // ANATOMY_DOWNSAMPLING)
    side = str(streams.lesion.choice(["L", "R"]))
    radius, contrast, spiculated = _lesion_size(streams.lesion, (6, 25), spacing_mm, (0.06, 0.14))
    depth = float(streams.lesion.uniform(0.2, 0.55))
    shape_seed = int(streams.lesion.integers(2 ** 31))
    datasets, views, lesions = [], [], []
    for number, spec in enumerate(MG_VIEWS, start=1):
        label, laterality = spec[0], spec[1]
        low, mask, geometry = breast_density(streams.anatomy, low_shape, laterality, "MLO" in label,
                                              DENSITIES[density_letter])
        density = upsample(low, shape)
        if diseased and laterality == side:
            lesion = _mammo_lesion(streams.lesion, geometry, laterality, depth, shape, radius, contrast,
                                   spiculated, shape_seed)
            add_lesion(density, lesion)
            lesions.append((label, lesion))
        ds = mg_dataset(meta, number, spec, to_stored(density, streams.noise, meta.vendor),
                         spacing_mm, streams.meta)
        datasets.append(ds)
        views.append(ViewInfo(ds.SOPInstanceUID, label, shape[0], shape[1], box_of(mask, ANATOMY_DOWNSAMPLING)))
    kind = ("spiculated mass" if spiculated else "mass") if diseased else ""
    return datasets, views, lesions, kind


def _mammo_lesion(rng, geometry, laterality, depth, shape, radius, contrast, spiculated, shape_seed) -> Lesion:
    """The same lesion depth from the chest wall in CC and MLO, a view-specific height."""
    reach = geometry["reach"]
    along = depth * reach
    span = geometry["height"] * np.sqrt(1 - (along / reach) ** 2) * 0.6
    y_norm = geometry["centre"] + rng.uniform(-span, span)
    x_norm = 2 * along - 1 if laterality == "L" else 1 - 2 * along
    x = (x_norm + 1) / 2 * (shape[1] - 1)
    y = (y_norm + 1) / 2 * (shape[0] - 1)
    return Lesion(float(x), float(y), radius * float(rng.uniform(0.9, 1.1)), contrast, spiculated, shape_seed)


def make_case(case_id: str, diseased: bool, seed: int | np.random.Generator, *,
              modality: str = "DX", shape: tuple[int, int] | None = None,
              spacing_mm: float | None = None,
              subgroups: dict[str, str] | None = None) -> tuple[list[Dataset], CaseTruth]:
    """One synthetic study: a PA chest (DX) or a 4-view screening mammogram (MG).

    Parameters
    ----------
    case_id : str
        Short identifier, e.g. ``"CASE001"``; the patient is ``DEMO^CASE001``.
    diseased : bool
        Insert one lesion (DX: a nodule in a lung; MG: a mass in one breast, seen in
        its CC and MLO views).
    seed : int or numpy.random.Generator
        Same seed, same case; a healthy and a diseased case of one seed share
        anatomy, noise and UIDs.
    modality : {'DX', 'MG'}
        Digital X-Ray (PS3.3 A.26) or Digital Mammography (A.27), For Presentation.
    shape : (rows, columns), optional
        Defaults to 2048x2048 (DX, 0.2 mm) or 2560x2048 (MG, 0.1 mm).
    spacing_mm : float, optional
        Imager Pixel Spacing.
    subgroups : dict, optional
        Fix some of ``age_band`` (e.g. ``"50-59"``), ``sex``, ``density`` (BI-RADS
        A-D), ``site``, ``vendor`` instead of drawing them.

    Returns
    -------
    (list of Dataset, CaseTruth)
        Datasets ready for ``save_as(path, enforce_file_format=True)`` and the
        truth with lesion locations in pixels of each image.
    """
    if modality not in ("DX", "MG"):
        raise ValueError(f"modality must be DX or MG, not {modality!r}")
    shape = shape or ((2048, 2048) if modality == "DX" else (2560, 2048))
    spacing_mm = spacing_mm or (0.2 if modality == "DX" else 0.1)
    streams = _Streams(seed)
    meta, drawn = _case_meta(case_id, streams, modality, subgroups)
    if modality == "DX":
        datasets, views, placed, kind = _make_chest_case(diseased, streams, meta, shape, spacing_mm)
    else:
        datasets, views, placed, kind = _make_mammo_case(diseased, streams, meta, shape, spacing_mm,
                                                         drawn["density"])
    uid_of = {view.view: view.sop_instance_uid for view in views}
    marks = tuple(LesionMark(uid_of[label], 1, round(float(lesion.x), 1), round(float(lesion.y), 1),
                             round(float(lesion.radius), 1), label) for label, lesion in placed)
    first = placed[0][1] if placed else None
    truth = CaseTruth(
        case_id=case_id, study_instance_uid=meta.study_uid, diseased=diseased, modality=modality,
        lesions=marks, views=tuple(views), lesion_kind=kind,
        lesion_diameter_mm=round(first.radius * 2 * spacing_mm, 1) if first else None,
        lesion_contrast=round(first.contrast, 3) if first else None, subgroups=drawn)
    return datasets, truth


# ------------------------------------------------------------------ AI output

def simulate_ai_output(truth: CaseTruth, seed: int | np.random.Generator) -> dict:
    """An imperfect detector's case score and findings (binormal, AUC about 0.85).

    The latent score is N(d', 1) for diseased and N(0, 1) for healthy cases with
    d' = sqrt(2) * Phi^-1(0.85) (binormal model, Metz 1986), mapped to 0..1 by
    Phi. True lesions are marked with jittered boxes when the latent score is high
    enough; any case may get false-positive marks inside its anatomy.

    Parameters
    ----------
    truth : CaseTruth
        The case, from :func:`make_case`.
    seed : int or numpy.random.Generator
        The case's seed; the AI stream is independent of the image streams.

    Returns
    -------
    dict
        ``case_id``, ``study_instance_uid``, ``score`` (0..1) and ``findings``, each
        with ``sop_instance_uid``, ``frame``, ``point`` [x, y], ``box``
        [x, y, width, height] in pixels, ``score`` and ``label``.
    """
    rng = _Streams(seed).ai
    latent = rng.normal(AI_SEPARATION if truth.diseased else 0.0, 1.0)
    score = float(ndtr(latent - AI_SEPARATION / 2))
    findings = []
    if latent > AI_SEPARATION / 2 - 1.0:
        findings += [_finding(rng, mark.sop_instance_uid, mark.x, mark.y, mark.radius, score, True)
                     for mark in truth.lesions]
    for _ in range(rng.poisson(0.25 + 0.5 * score)):
        view = truth.views[int(rng.integers(len(truth.views)))]
        x0, y0, x1, y1 = view.anatomy_box
        radius = min(float(rng.uniform(15, 60)), (x1 - x0) / 2, (y1 - y0) / 2)  # small test images
        findings.append(_finding(rng, view.sop_instance_uid, rng.uniform(x0 + radius, x1 - radius),
                                 rng.uniform(y0 + radius, y1 - radius), radius,
                                 score * rng.uniform(0.2, 0.7), False))
    return {"case_id": truth.case_id, "study_instance_uid": truth.study_instance_uid,
            "score": round(score, 4), "findings": findings}


def _finding(rng, sop_uid, x, y, radius, score, near_lesion) -> dict:
    if near_lesion:
        x, y = x + rng.normal(0, 0.15 * radius), y + rng.normal(0, 0.15 * radius)
        radius *= rng.uniform(1.0, 1.4)
    return {"sop_instance_uid": sop_uid, "frame": 1, "point": [round(float(x), 1), round(float(y), 1)],
            "box": [round(float(x - radius), 1), round(float(y - radius), 1),
                    round(float(2 * radius), 1), round(float(2 * radius), 1)],
            "score": round(float(score), 4), "label": "suspicious lesion"}


# -------------------------------------------------------------------- demo set

TRUTH_COLUMNS = ("case_id", "study_instance_uid", "truth", "modality", "lesion_kind",
                 "lesion_diameter_mm", "lesion_contrast", "lesions", "truth_method",
                 "age_band", "sex", "density", "site", "vendor")


def make_demo_set(out_dir: str | Path, n_cases: int = 20, prevalence: float = 0.5, seed: int = 0, *,
                  modality: str = "DX", shape: tuple[int, int] | None = None) -> DemoSet:
    """Write a demo study set: DICOM files, ``truth.csv`` and ``ai_outputs.json``.

    Parameters
    ----------
    out_dir : str or path
        Files go to ``out_dir/images/<case_id>/<series>_<instance>.dcm``;
        ``truth.csv`` has one row per case (columns ``TRUTH_COLUMNS``; ``lesions``
        is a JSON list of :class:`LesionMark`, ``lesion_contrast`` is in display
        density units 0..1) and ``ai_outputs.json`` holds the model name and
        version and one :func:`simulate_ai_output` result per case.
    n_cases : int
        Number of cases, named ``CASE001``...
    prevalence : float
        Fraction of diseased cases (rounded to a whole number of cases).
    seed : int
        Same seed, same files, truth and AI outputs.
    modality, shape
        As for :func:`make_case`.

    Returns
    -------
    DemoSet
    """
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    diseased = np.zeros(n_cases, dtype=bool)
    diseased[: round(n_cases * prevalence)] = True
    rng.shuffle(diseased)
    case_seeds = rng.integers(2 ** 63, size=n_cases)
    paths, truths, outputs = [], [], []
    for index, (case_seed, is_diseased) in enumerate(zip(case_seeds, diseased, strict=True), start=1):
        case_id = f"CASE{index:03d}"
        datasets, truth = make_case(case_id, bool(is_diseased), int(case_seed), modality=modality, shape=shape)
        for ds in datasets:
            path = out_dir / "images" / case_id / f"{ds.SeriesNumber:02d}_{ds.InstanceNumber:02d}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        truths.append(truth)
        outputs.append(simulate_ai_output(truth, int(case_seed)))
    truth_csv = _write_truth_csv(out_dir / "truth.csv", truths)
    ai_json = out_dir / "ai_outputs.json"
    ai_json.write_text(json.dumps({"model": AI_MODEL, "seed": seed, "cases": outputs}, indent=1))
    return DemoSet(tuple(paths), truth_csv, ai_json, tuple(truths))


def _write_truth_csv(path: Path, truths: list[CaseTruth]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS)
        writer.writeheader()
        for truth in truths:
            writer.writerow({
                "case_id": truth.case_id, "study_instance_uid": truth.study_instance_uid,
                "truth": int(truth.diseased), "modality": truth.modality,
                "lesion_kind": truth.lesion_kind,
                "lesion_diameter_mm": truth.lesion_diameter_mm or "",
                "lesion_contrast": truth.lesion_contrast or "",
                "lesions": json.dumps([asdict(mark) for mark in truth.lesions]),
                "truth_method": TRUTH_METHOD, **truth.subgroups,
            })
    return path
