"""The demo's AI: a fixed blob detector written as an ONNX graph, with its model card.

``python -m mrmc.inference.demo_detector OUT_DIR`` writes ``demo_detector.onnx`` and
``demo_detector.card.yaml``; the copies shipped in ``mrmc/inference/data`` are these files (a test
rebuilds them and compares bytes). Needs the ``onnx`` package (requirements-dev.txt).

It is not trained: it looks for the brightest round blob in the dark (lung) parts of a chest
radiograph. The image is averaged down to 256 x 256; the Hessian of a Gaussian (sigma 2 px) is taken,
and a bright blob is where both of its eigenvalues are negative, so the larger one, negated, is the
blob strength (Lindeberg 1998, Int J Comput Vis 30:79-116): a rib or an edge, curved in one direction
only, scores about zero. Only pixels whose 25 x 25 neighbourhood is dark count. The strongest blob is
the finding, and its strength through a logistic function is the score. On the demo's synthetic
cases it separates diseased from healthy cases weakly (AUC about 0.6): it shows the
pipeline, not a good model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

INPUT_SIDE, SIDE = 512, 256
SIGMA, KERNEL_RADIUS = 2.0, 6
DARK_BELOW, DARK_WINDOW = 0.5, 25
# blob strength (display units per px^2, times sigma^2) mapped to 0..1: 0.5 at 0.028, spread 0.004
SCORE_OFFSET, SCORE_SCALE = 0.028, 250.0
FINDING_SIDE = 24  # px of the 512 input: about 19 mm on the demo's 0.2 mm pixels
OPSET, IR_VERSION = 17, 9  # what onnxruntime 1.16 and later load
SHIPPED = Path(__file__).parent / "data"
SHIPPED_MODEL, SHIPPED_CARD = SHIPPED / "demo_detector.onnx", SHIPPED / "demo_detector.card.yaml"

CARD = f"""\
name: MRMC Demo Blob Detector
version: 1.0.0
format: onnx
description: >-
  A fixed (untrained) Hessian blob detector for the demo's synthetic chest radiographs. For
  demonstration only; not a medical device.
input:
  name: image
  layout: NCHW
  channels: 1
  height: {INPUT_SIDE}
  width: {INPUT_SIDE}
preprocessing:
  resize: area
  window: dicom
images:
  modalities: [DX, CR]
  combine: max
outputs:
  score: score
  findings: findings
  finding_min_score: 0.5
  finding_label: suspicious lesion
score_range: [0, 1]
operating_point: 0.5
"""


def hessian_kernels(sigma: float = SIGMA, radius: int = KERNEL_RADIUS) -> np.ndarray:
    """(3, 1, 2r+1, 2r+1) kernels of the Gaussian's second derivatives: d2/dx2, d2/dy2, d2/dxdy."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    g /= g.sum()
    d1 = -x / sigma ** 2 * g
    d2 = (x ** 2 / sigma ** 4 - 1 / sigma ** 2) * g
    kernels = [np.outer(g, d2), np.outer(d2, g), np.outer(d1, d1)]  # rows are y, columns x
    return (np.stack(kernels)[:, np.newaxis] * sigma ** 2).astype(np.float32)


def build_model() -> bytes:
    """The detector as a serialized ONNX model: image (N, 1, 512, 512) -> score (N, 1), findings (N, 1, 5)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    def const(name: str, value) -> object:
        return numpy_helper.from_array(np.asarray(value), name)

    factor = INPUT_SIDE // SIDE
    half = FINDING_SIDE / 2
    initializers = [
        const("hessian", hessian_kernels()),
        const("reflect_pads", np.array([0, 0, KERNEL_RADIUS, KERNEL_RADIUS] * 2, dtype=np.int64)),
        const("dark_below", np.float32(DARK_BELOW)),
        const("offset", np.float32(SCORE_OFFSET)), const("scale", np.float32(SCORE_SCALE)),
        const("half", np.float32(0.5)),
        const("flat", np.array([0, -1], dtype=np.int64)), const("side", np.int64(SIDE)),
        const("factor", np.float32(factor)), const("centre", np.float32(factor / 2 - half)),
        const("box_side", np.array([[FINDING_SIDE, FINDING_SIDE]], dtype=np.float32)),
        const("finding_shape", np.array([0, 1, 5], dtype=np.int64)),
    ]
    node = helper.make_node
    nodes = [
        node("AveragePool", ["image"], ["small"], kernel_shape=[factor, factor], strides=[factor, factor]),
        node("Pad", ["small", "reflect_pads"], ["padded"], mode="reflect"),  # no edge where the image ends
        node("Conv", ["padded", "hessian"], ["second"]),
        node("Split", ["second"], ["dxx", "dyy", "dxy"], axis=1),
        # larger eigenvalue of [[dxx, dxy], [dxy, dyy]]: (dxx + dyy) / 2 + sqrt(((dxx - dyy) / 2)^2 + dxy^2)
        node("Add", ["dxx", "dyy"], ["trace"]), node("Mul", ["trace", "half"], ["mean_curvature"]),
        node("Sub", ["dxx", "dyy"], ["difference"]), node("Mul", ["difference", "half"], ["half_difference"]),
        node("Mul", ["half_difference", "half_difference"], ["a2"]), node("Mul", ["dxy", "dxy"], ["b2"]),
        node("Add", ["a2", "b2"], ["radicand"]), node("Sqrt", ["radicand"], ["radius"]),
        node("Add", ["mean_curvature", "radius"], ["larger"]), node("Neg", ["larger"], ["negated"]),
        node("Relu", ["negated"], ["blob"]),
        node("AveragePool", ["small"], ["surround"], kernel_shape=[DARK_WINDOW, DARK_WINDOW],
             pads=[DARK_WINDOW // 2] * 4, count_include_pad=0),
        node("Less", ["surround", "dark_below"], ["dark"]), node("Cast", ["dark"], ["dark_f"], to=TensorProto.FLOAT),
        node("Mul", ["blob", "dark_f"], ["strength"]),
        node("Reshape", ["strength", "flat"], ["strength_flat"]),
        node("ReduceMax", ["strength_flat"], ["peak"], axes=[1], keepdims=1),
        node("Sub", ["peak", "offset"], ["centered"]), node("Mul", ["centered", "scale"], ["logit"]),
        node("Sigmoid", ["logit"], ["score"]),
        node("ArgMax", ["strength_flat"], ["where"], axis=1, keepdims=1, select_last_index=0),
        node("Mod", ["where", "side"], ["column"]), node("Div", ["where", "side"], ["row"]),
        node("Concat", ["column", "row"], ["position"], axis=1),
        node("Cast", ["position"], ["position_f"], to=TensorProto.FLOAT),
        node("Mul", ["position_f", "factor"], ["scaled"]), node("Add", ["scaled", "centre"], ["corner"]),
        node("Shape", ["corner"], ["shape_of_corner"]),
        node("Expand", ["box_side", "shape_of_corner"], ["box_sides"]),
        node("Concat", ["corner", "box_sides", "score"], ["finding_row"], axis=1),
        node("Reshape", ["finding_row", "finding_shape"], ["findings"]),
    ]
    graph = helper.make_graph(
        nodes, "demo_blob_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, INPUT_SIDE, INPUT_SIDE])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("findings", TensorProto.FLOAT, ["N", 1, 5])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mrmc")
    model.ir_version = IR_VERSION
    checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def write(out_dir: str | Path) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, card = out_dir / SHIPPED_MODEL.name, out_dir / SHIPPED_CARD.name
    model.write_bytes(build_model())
    card.write_text(CARD)
    return model, card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    for path in write(parser.parse_args(argv).out_dir):
        print(path)


if __name__ == "__main__":
    main()
