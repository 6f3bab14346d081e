"""A tiny random-weight Supertonic model, built in code: the real model's four ONNX graphs with its input and output
names, its config, character table and voice styles, laid out as its Hugging Face repository is (or as the hub
cache holds it), so the backend's real loading, text front end and inference run in the tests.

The graphs are small stand-ins, not the real networks: the duration predictor gives each character 30 to 60 ms
(so speech has a plausible length), the denoiser mixes the latent with the text, and the vocoder turns each latent
frame into 3072 samples.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np

CONFIG = {"ae": {"sample_rate": 44100, "base_chunk_size": 512}, "ttl": {"chunk_compress_factor": 6, "latent_dim": 24}}
LATENT_CHANNELS = 24 * 6
SAMPLES_PER_FRAME = 512 * 6
TEXT_CHANNELS = 16
STYLE_TTL_DIMS = [1, 50, 256]
STYLE_DP_DIMS = [1, 8, 16]
MIN_CHAR_S, MAX_CHAR_S = 0.03, 0.06
VOICES = ("F1", "M1")
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
# Printable ASCII, combining accents, and the Hangul letters NFKD decomposes syllables into.
KNOWN = [*range(32, 127), *range(0x300, 0x370), *range(0x1100, 0x1200)]


def _graph_files(rng: np.random.Generator) -> dict[str, bytes]:
    from onnx import TensorProto, helper, numpy_helper

    def constant(name: str, value: np.ndarray) -> object:
        return numpy_helper.from_array(np.asarray(value), name)

    def model(nodes: list, inputs: list, outputs: list, initializers: list, name: str) -> bytes:
        graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
        built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
        return built.SerializeToString()

    def tensor(name: str, kind: int, shape: list) -> object:
        return helper.make_tensor_value_info(name, kind, shape)

    vocabulary = len(KNOWN)
    text_ids = tensor("text_ids", TensorProto.INT64, [1, "T"])
    text_mask = tensor("text_mask", TensorProto.FLOAT, [1, 1, "T"])
    style_ttl = tensor("style_ttl", TensorProto.FLOAT, STYLE_TTL_DIMS)
    style_dp = tensor("style_dp", TensorProto.FLOAT, STYLE_DP_DIMS)
    axis_1, axes_12, axis_2 = (constant(n, np.array(v, dtype=np.int64)) for n, v in
                               (("axis_1", [1]), ("axes_12", [1, 2]), ("axis_2", [2])))  # fmt: skip

    seconds = rng.uniform(MIN_CHAR_S, MAX_CHAR_S, vocabulary).astype(np.float32)
    duration = model(
        [
            helper.make_node("Gather", ["char_seconds", "text_ids"], ["per_char"]),
            helper.make_node("Squeeze", ["text_mask", "axis_1"], ["mask_2d"]),
            helper.make_node("Mul", ["per_char", "mask_2d"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis_1"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["style_dp", "axes_12"], ["style_sum"], keepdims=0),
            helper.make_node("Mul", ["style_sum", "style_scale"], ["style_small"]),
            helper.make_node("Tanh", ["style_small"], ["style_bend"]),
            helper.make_node("Add", ["style_bend", "one"], ["bend"]),
            helper.make_node("Mul", ["summed", "bend"], ["duration"]),
        ],
        [text_ids, style_dp, text_mask],
        [tensor("duration", TensorProto.FLOAT, [1])],
        [
            constant("char_seconds", seconds),
            axis_1,
            axes_12,
            constant("style_scale", np.float32(0.001)),
            constant("one", np.float32(1.0)),
        ],
        "duration_predictor",
    )
    table = rng.normal(0, 1, (vocabulary, TEXT_CHANNELS)).astype(np.float32)
    encoder = model(
        [
            helper.make_node("Gather", ["embedding", "text_ids"], ["embedded"]),
            helper.make_node("Transpose", ["embedded"], ["channels_first"], perm=[0, 2, 1]),
            helper.make_node("Mul", ["channels_first", "text_mask"], ["masked"]),
            helper.make_node("ReduceSum", ["style_ttl", "axes_12"], ["style_sum"], keepdims=1),
            helper.make_node("Mul", ["style_sum", "style_scale"], ["style_small"]),
            helper.make_node("Add", ["masked", "style_small"], ["text_emb"]),
        ],
        [text_ids, style_ttl, text_mask],
        [tensor("text_emb", TensorProto.FLOAT, [1, TEXT_CHANNELS, "T"])],
        [constant("embedding", table), axes_12, constant("style_scale", np.float32(0.0001))],
        "text_encoder",
    )
    latent_shape = [1, LATENT_CHANNELS, "L"]
    estimator = model(
        [
            helper.make_node("Mul", ["text_emb", "text_mask"], ["masked_text"]),
            helper.make_node("ReduceSum", ["masked_text", "axis_2"], ["text_sum"], keepdims=1),
            helper.make_node("ReduceSum", ["text_mask", "axis_2"], ["text_count"], keepdims=1),
            helper.make_node("Div", ["text_sum", "text_count"], ["text_mean"]),
            helper.make_node("MatMul", ["text_weight", "text_mean"], ["from_text"]),
            helper.make_node("MatMul", ["latent_weight", "noisy_latent"], ["from_latent"]),
            helper.make_node("Add", ["from_latent", "from_text"], ["mixed"]),
            helper.make_node("ReduceSum", ["style_ttl", "axes_12"], ["style_sum"], keepdims=1),
            helper.make_node("Mul", ["style_sum", "style_scale"], ["style_small"]),
            helper.make_node("Add", ["mixed", "style_small"], ["styled"]),
            helper.make_node("Tanh", ["styled"], ["target"]),
            helper.make_node("Sub", ["target", "noisy_latent"], ["velocity"]),
            helper.make_node("Div", ["velocity", "total_step"], ["step"]),
            helper.make_node("Mul", ["current_step", "step_scale"], ["step_bias"]),
            helper.make_node("Add", ["step", "step_bias"], ["moved"]),
            helper.make_node("Add", ["noisy_latent", "moved"], ["updated"]),
            helper.make_node("Mul", ["updated", "latent_mask"], ["denoised_latent"]),
        ],
        [
            tensor("noisy_latent", TensorProto.FLOAT, latent_shape),
            tensor("text_emb", TensorProto.FLOAT, [1, TEXT_CHANNELS, "T"]),
            style_ttl,
            text_mask,
            tensor("latent_mask", TensorProto.FLOAT, [1, 1, "L"]),
            tensor("current_step", TensorProto.FLOAT, [1]),
            tensor("total_step", TensorProto.FLOAT, [1]),
        ],
        [tensor("denoised_latent", TensorProto.FLOAT, latent_shape)],
        [
            constant("text_weight", rng.normal(0, 0.3, (LATENT_CHANNELS, TEXT_CHANNELS)).astype(np.float32)),
            constant("latent_weight", rng.normal(0, 1 / 12, (LATENT_CHANNELS, LATENT_CHANNELS)).astype(np.float32)),
            axis_2,
            axes_12,
            constant("style_scale", np.float32(0.0001)),
            constant("step_scale", np.float32(0.001)),
        ],
        "vector_estimator",
    )
    vocoder = model(
        [
            helper.make_node("Transpose", ["latent"], ["frames"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["frames", "synthesis"], ["framed"]),
            helper.make_node("Reshape", ["framed", "flat"], ["flattened"]),
            helper.make_node("Tanh", ["flattened"], ["bounded"]),
            helper.make_node("Mul", ["bounded", "level"], ["wav_tts"]),
        ],
        [tensor("latent", TensorProto.FLOAT, latent_shape)],
        [tensor("wav_tts", TensorProto.FLOAT, [1, "S"])],
        [
            constant("synthesis", rng.normal(0, 1 / 6, (LATENT_CHANNELS, SAMPLES_PER_FRAME)).astype(np.float32)),
            constant("flat", np.array([1, -1], dtype=np.int64)),
            constant("level", np.float32(0.5)),
        ],
        "vocoder",
    )
    return {"duration_predictor": duration, "text_encoder": encoder, "vector_estimator": estimator, "vocoder": vocoder}


@functools.cache
def model_files(seed: int = 0) -> dict[str, bytes]:
    """Each file of the tiny model by its path in the repository."""
    rng = np.random.default_rng(seed)
    files = {f"onnx/{name}.onnx": data for name, data in _graph_files(rng).items()}
    files["onnx/tts.json"] = json.dumps(CONFIG).encode()
    indexer = [-1] * 0x10000
    for index, point in enumerate(KNOWN):
        indexer[point] = index
    files["onnx/unicode_indexer.json"] = json.dumps(indexer).encode()
    for voice in VOICES:
        style = {
            key: {"dims": dims, "data": rng.normal(0, 1, dims).astype(np.float32).round(4).tolist()}
            for key, dims in (("style_ttl", STYLE_TTL_DIMS), ("style_dp", STYLE_DP_DIMS))
        }
        files[f"voice_styles/{voice}.json"] = json.dumps(style).encode()
    files["LICENSE"] = b"BigScience OpenRAIL-M (a stand-in for the model's licence)\n"
    return files


def save_folder(folder: Path, seed: int = 0) -> Path:
    """The tiny model as a plain folder (what `--model FOLDER` or `[voice] model` may name)."""
    for relative, data in model_files(seed).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def save_to_hub_cache(cache: Path, repo: str, seed: int = 0) -> Path:
    """The tiny model as huggingface_hub caches a download: blobs named by their hash, a snapshot of links to them,
    and refs/main naming the snapshot. Returns the snapshot folder."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshot = root / "snapshots" / COMMIT
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(COMMIT, encoding="utf-8")
    for relative, data in model_files(seed).items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot
