"""Models the tests build with the onnx helper API: a known function of the pixels, written out here too."""

import json

import numpy as np
from onnx import TensorProto, helper, numpy_helper

SIDE = 128
REGION = (slice(32, 96), slice(16, 80))  # rows, columns of the windowed mean
WINDOW = (1800.0, 2400.0)


def region_mean_model(*, side=SIDE, region=REGION, input_name="image", dtype=TensorProto.FLOAT,
                      batch="N", findings=None) -> bytes:
    """score = mean of the input over ``region``; ``findings`` (K, 5) rows are returned for every image."""
    rows, cols = region
    inits = [numpy_helper.from_array(np.array(v, dtype=np.int64), n) for n, v in (
        ("starts", [rows.start, cols.start]), ("ends", [rows.stop, cols.stop]), ("axes", [2, 3]))]
    nodes = [helper.make_node("Slice", [input_name, "starts", "ends", "axes"], ["region"]),
             helper.make_node("ReduceMean", ["region"], ["mean"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Unsqueeze", ["mean", "one"], ["score"])]
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "one"))
    outputs = [helper.make_tensor_value_info("score", dtype, [batch, 1])]
    if findings is not None:
        rows_k = np.asarray(findings, dtype=np.float32)[np.newaxis]
        inits += [numpy_helper.from_array(rows_k, "rows"), numpy_helper.from_array(np.array([1, 1], np.int64), "ones")]
        nodes += [helper.make_node("Shape", ["score"], ["n1"]), helper.make_node("Slice", ["n1", "zero", "one"], ["n"]),
                  helper.make_node("Concat", ["n", "ones"], ["reps"], axis=0),
                  helper.make_node("Tile", ["rows", "reps"], ["findings"])]
        inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"))
        outputs.append(helper.make_tensor_value_info("findings", TensorProto.FLOAT, [batch, len(findings), 5]))
    graph = helper.make_graph(nodes, "region_mean",
                              [helper.make_tensor_value_info(input_name, dtype, [batch, 1, side, side])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def card(side: int = SIDE, **changes) -> bytes:
    fields = {"name": "Region mean", "version": "1", "input": {"name": "image", "height": side, "width": side},
              "preprocessing": {"resize": "area", "window": {"center": WINDOW[0], "width": WINDOW[1]}},
              "outputs": {"score": "score"}}
    fields.update(changes)
    return json.dumps(fields).encode()


def expected_score(ds, side: int = SIDE, region=REGION) -> float:
    """The card's preprocessing written out: rescale, LINEAR window (PS3.3 C.11.2.1.2.1), box mean, region."""
    values = ds.pixel_array.astype(np.float64) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    center, width = WINDOW
    windowed = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        windowed = 1 - windowed
    factor = windowed.shape[0] // side
    reduced = windowed.reshape(side, factor, side, factor).mean(axis=(1, 3))
    return float(reduced[region].mean())
