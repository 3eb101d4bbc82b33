"""The model card: what a model expects and what its outputs mean, declared beside the model file.

A card is YAML or JSON (YAML is a superset)::

    name: Nodule Detector
    version: 2.1.0
    format: onnx
    input:
      name: image                 # the graph's input
      layout: NCHW                # or NHWC
      channels: 1                 # 1, or 3 (the grayscale image repeated)
      height: 512
      width: 512
    preprocessing:
      resize: bilinear            # nearest | bilinear | area: to height x width
      window: dicom               # dicom | range | {center: 40, width: 400}
      normalize: {mean: 0.5, std: 0.25}   # after windowing to 0..1; optional
    images:
      modalities: [DX, CR]        # optional: only these images of a case go in
      combine: max                # max | mean: the images' scores make the case's score
    outputs:
      score: score                # output of shape (N,) or (N, 1)
      findings: boxes             # optional: (N, K, 5) rows x, y, width, height, score in input pixels
      finding_min_score: 0.5      # findings below are dropped
      finding_label: suspicious lesion
    score_range: [0, 1]
    operating_point: 0.5

Windowing ``dicom`` is what a reader sees first: the file's window or VOI LUT, else the image's
range, MONOCHROME1 inverted (:func:`mrmc.dicom.frames.display_values`); ``range`` stretches the
image's own range; an explicit window is the LINEAR function of PS3.3 C.11.2.1.2.1.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field

import yaml

FORMATS = ("onnx",)  # TorchScript models: export to ONNX (torch.onnx.export) first
LAYOUTS = ("NCHW", "NHWC")
RESIZES = ("nearest", "bilinear", "area")
COMBINES = ("max", "mean")
MAX_INPUT_SIDE = 4096
MAX_CARD_BYTES = 64 * 1024
MAX_FINDINGS_PER_IMAGE = 100


class CardError(ValueError):
    """A card that cannot be used, naming the field."""


@dataclass(frozen=True)
class Window:
    """``mode`` dicom | range | fixed; ``center`` and ``width`` for fixed."""

    mode: str = "dicom"
    center: float | None = None
    width: float | None = None


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    format: str
    input_name: str
    layout: str
    channels: int
    height: int
    width: int
    resize: str
    window: Window
    mean: float
    std: float
    modalities: tuple[str, ...]
    combine: str
    score_output: str
    findings_output: str | None
    finding_min_score: float
    finding_label: str
    score_range: tuple[float, float]
    operating_point: float | None
    extra: dict = field(default_factory=dict)

    def input_shape(self, batch: int) -> tuple[int, int, int, int]:
        if self.layout == "NCHW":
            return (batch, self.channels, self.height, self.width)
        return (batch, self.height, self.width, self.channels)

    def as_dict(self) -> dict:
        return asdict(self)


def card_sha256(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def parse_card(data: bytes) -> ModelCard:
    """Parse and check a card; a :class:`CardError` names the first field that is wrong."""
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"the model card is {len(data)} bytes; at most {MAX_CARD_BYTES}")
    try:
        document = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CardError(f"the model card is not YAML or JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise CardError("the model card must be a mapping of fields")
    return _card(_Fields(document))


class _Fields:
    """Typed access to the card's fields; every error names the field's path."""

    def __init__(self, document: dict, path: str = ""):
        self.document, self.path = document, path

    def section(self, key: str, required: bool = True) -> _Fields:
        value = self.document.get(key)
        if value is None and not required:
            return _Fields({}, self._where(key) + ".")
        if not isinstance(value, dict):
            raise CardError(f"{self._where(key)}: a mapping is required")
        return _Fields(value, self._where(key) + ".")

    def text(self, key: str, default: str | None = None, *, max_length: int = 100) -> str | None:
        value = self.document.get(key, default)
        if value is None:
            if default is None and key not in self.document:
                raise CardError(f"{self._where(key)}: required")
            return None
        value = str(value).strip()
        if not value or len(value) > max_length:
            raise CardError(f"{self._where(key)}: 1 to {max_length} characters")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise CardError(f"{self._where(key)}: one of {', '.join(choices)} (got {value!r})")
        return value

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int:
        value = self.document.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CardError(f"{self._where(key)}: a whole number from {low} to {high}")
        return value

    def number(self, key: str, default: float | None = None, *, required: bool = True) -> float | None:
        value = self.document.get(key, default)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise CardError(f"{self._where(key)}: a finite number is required")
        return float(value)

    def _where(self, key: str) -> str:
        return f"{self.path}{key}"


def _card(fields: _Fields) -> ModelCard:
    source, pre, images, outputs = (fields.section("input"), fields.section("preprocessing", required=False),
                                    fields.section("images", required=False), fields.section("outputs"))
    std = pre.section("normalize", required=False).number("std", 1.0)
    if std <= 0:
        raise CardError("preprocessing.normalize.std: must be positive")
    score_range = _score_range(fields.document.get("score_range", [0, 1]))
    modalities = images.document.get("modalities") or []
    if not isinstance(modalities, list) or not all(isinstance(m, str) and m.strip() for m in modalities):
        raise CardError("images.modalities: a list of modality codes, e.g. [DX, CR]")
    return ModelCard(
        name=fields.text("name"),
        version=fields.text("version", max_length=50),
        format=fields.choice("format", FORMATS, "onnx"),
        input_name=source.text("name"),
        layout=source.choice("layout", LAYOUTS, "NCHW"),
        channels=_channels(source),
        height=source.integer("height", 8, MAX_INPUT_SIDE),
        width=source.integer("width", 8, MAX_INPUT_SIDE),
        resize=pre.choice("resize", RESIZES, "bilinear"),
        window=_window(pre.document.get("window", "dicom")),
        mean=pre.section("normalize", required=False).number("mean", 0.0),
        std=std,
        modalities=tuple(m.strip().upper() for m in modalities),
        combine=images.choice("combine", COMBINES, "max"),
        score_output=outputs.text("score"),
        findings_output=outputs.text("findings", default=None) if "findings" in outputs.document else None,
        finding_min_score=outputs.number("finding_min_score", 0.0),
        finding_label=outputs.text("finding_label", "finding"),
        score_range=score_range,
        operating_point=_operating_point(fields.number("operating_point", required=False), score_range),
        extra={key: fields.document[key] for key in ("description", "intended_use") if key in fields.document},
    )


def _channels(source: _Fields) -> int:
    channels = source.integer("channels", 1, 3, 1)
    if channels == 2:
        raise CardError("input.channels: 1 (grayscale) or 3 (grayscale repeated)")
    return channels


def _window(value) -> Window:
    if value in ("dicom", "range"):
        return Window(mode=value)
    if isinstance(value, dict):
        fixed = _Fields(value, "preprocessing.window.")
        center, width = fixed.number("center"), fixed.number("width")
        if width < 1:
            raise CardError("preprocessing.window.width: at least 1")
        return Window(mode="fixed", center=center, width=width)
    raise CardError("preprocessing.window: dicom, range or {center: C, width: W}")


def _score_range(value) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value)
            or value[0] >= value[1]):
        raise CardError("score_range: [low, high] with low < high")
    return float(value[0]), float(value[1])


def _operating_point(value: float | None, score_range: tuple[float, float]) -> float | None:
    if value is not None and not score_range[0] <= value <= score_range[1]:
        raise CardError(f"operating_point: within score_range {list(score_range)}")
    return value
