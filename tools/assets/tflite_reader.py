"""Minimal, dependency-light reader for TensorFlow Lite FlatBuffer models.

There is no TFLite runtime on the build machines, so we read the FlatBuffer with the
generic `flatbuffers` runtime (Debian: python3-flatbuffers) and the field indices of
tensorflow/lite/schema/schema.fbs.  In a FlatBuffer table, field number i lives at
vtable offset 4 + 2*i (a union takes two slots: its `_type` byte and the value).

Only what the image2song converters need is read: operator codes, tensors (shape, type,
buffer, name, quantization), operators with their builtin options, and buffers.
"""

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from flatbuffers import encode, number_types as N
from flatbuffers.table import Table

# --- enums from schema.fbs ------------------------------------------------------------
TENSOR_TYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64,
                7: np.int16, 9: np.int8}
TENSOR_TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64",
                     5: "STRING", 6: "BOOL", 7: "INT16", 8: "COMPLEX64", 9: "INT8"}
BUILTIN_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D",
               4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED",
               14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU", 21: "RELU6",
               22: "RESHAPE", 25: "SOFTMAX", 34: "PAD", 40: "MEAN", 43: "SQUEEZE",
               114: "QUANTIZE", 117: "HARD_SWISH"}
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
              5: "SIGN_BIT", 6: "SIGMOID"}

# Builtin options: field name -> (field index, flatbuffers number type, default).
_I8, _I32, _F32, _B = N.Int8Flags, N.Int32Flags, N.Float32Flags, N.BoolFlags
OPTION_FIELDS = {
    "CONV_2D": {"padding": (0, _I8, 0), "stride_w": (1, _I32, 0), "stride_h": (2, _I32, 0),
                "fused_activation_function": (3, _I8, 0), "dilation_w": (4, _I32, 1),
                "dilation_h": (5, _I32, 1)},
    "DEPTHWISE_CONV_2D": {"padding": (0, _I8, 0), "stride_w": (1, _I32, 0),
                          "stride_h": (2, _I32, 0), "depth_multiplier": (3, _I32, 0),
                          "fused_activation_function": (4, _I8, 0),
                          "dilation_w": (5, _I32, 1), "dilation_h": (6, _I32, 1)},
    "AVERAGE_POOL_2D": {"padding": (0, _I8, 0), "stride_w": (1, _I32, 0),
                        "stride_h": (2, _I32, 0), "filter_width": (3, _I32, 0),
                        "filter_height": (4, _I32, 0),
                        "fused_activation_function": (5, _I8, 0)},
    "ADD": {"fused_activation_function": (0, _I8, 0)},
    "MUL": {"fused_activation_function": (0, _I8, 0)},
    "SOFTMAX": {"beta": (0, _F32, 0.0)},
    "FULLY_CONNECTED": {"fused_activation_function": (0, _I8, 0), "weights_format": (1, _I8, 0),
                        "keep_num_dims": (2, _B, False)},
    "CONCATENATION": {"axis": (0, _I32, 0), "fused_activation_function": (1, _I8, 0)},
    "MEAN": {"keep_dims": (0, _B, False)},
}
OPTION_FIELDS["MAX_POOL_2D"] = OPTION_FIELDS["AVERAGE_POOL_2D"]


@dataclass
class Quant:
    scale: np.ndarray            # float32 [n]
    zero_point: np.ndarray       # int64 [n]
    quantized_dimension: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    index: int
    name: str
    shape: List[int]
    type: int
    buffer: int
    quant: Optional[Quant]
    data: Optional[np.ndarray] = None   # constant data (reshaped), None for activations

    @property
    def type_name(self) -> str:
        return TENSOR_TYPE_NAMES.get(self.type, str(self.type))


@dataclass
class Operator:
    index: int
    opcode: int
    op: str
    inputs: List[int]
    outputs: List[int]
    options: Dict[str, object] = field(default_factory=dict)


@dataclass
class Model:
    version: int
    description: str
    tensors: List[Tensor]
    operators: List[Operator]
    inputs: List[int]
    outputs: List[int]


def _field(t: Table, i: int) -> int:
    """Offset of field i relative to t.Pos, 0 when absent."""
    return t.Offset(4 + 2 * i)


def _scalar(t: Table, i: int, flags, default):
    o = _field(t, i)
    return default if o == 0 else t.Get(flags, t.Pos + o)


def _table(t: Table, i: int) -> Optional[Table]:
    o = _field(t, i)
    if o == 0:
        return None
    return Table(t.Bytes, t.Indirect(t.Pos + o))


def _tables(t: Table, i: int) -> List[Table]:
    o = _field(t, i)
    if o == 0:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * k)) for k in range(n)]


def _numpy(t: Table, i: int, flags) -> np.ndarray:
    o = _field(t, i)
    if o == 0:
        return np.zeros(0, dtype=N.to_numpy_type(flags))
    return t.GetVectorAsNumpy(flags, o).copy()


def _string(t: Table, i: int) -> str:
    o = _field(t, i)
    return "" if o == 0 else t.String(t.Pos + o).decode("utf-8", "replace")


def read_model(path: str) -> Model:
    buf = bytearray(open(path, "rb").read())
    if buf[4:8] != b"TFL3":
        raise ValueError(f"{path}: not a TFLite FlatBuffer (identifier {bytes(buf[4:8])!r})")
    root = Table(buf, encode.Get(N.UOffsetTFlags.packer_type, buf, 0))

    # Model: version0 operator_codes1 subgraphs2 description3 buffers4
    version = _scalar(root, 0, N.Uint32Flags, 0)
    description = _string(root, 3)
    opcodes = []
    for oc in _tables(root, 1):
        # OperatorCode: deprecated_builtin_code0 (int8) custom_code1 version2 builtin_code3 (int32)
        dep = _scalar(oc, 0, N.Int8Flags, 0)
        new = _scalar(oc, 3, N.Int32Flags, 0)
        code = max(dep, new)
        if code == 32:  # CUSTOM
            raise ValueError(f"custom op {_string(oc, 1)!r} is not supported")
        opcodes.append(code)
    buffers = [_numpy(b, 0, N.Uint8Flags) for b in _tables(root, 4)]
    subgraphs = _tables(root, 2)
    if len(subgraphs) != 1:
        raise ValueError(f"expected 1 subgraph, found {len(subgraphs)}")
    sg = subgraphs[0]

    tensors = []
    for ti, tt in enumerate(_tables(sg, 0)):
        # Tensor: shape0 type1 buffer2 name3 quantization4
        shape = [int(x) for x in _numpy(tt, 0, N.Int32Flags)]
        ttype = _scalar(tt, 1, N.Int8Flags, 0)
        bidx = _scalar(tt, 2, N.Uint32Flags, 0)
        name = _string(tt, 3)
        q = None
        qt = _table(tt, 4)
        if qt is not None:
            # QuantizationParameters: min0 max1 scale2 zero_point3 details4/5 quantized_dimension6
            scale = _numpy(qt, 2, N.Float32Flags)
            zp = _numpy(qt, 3, N.Int64Flags)
            if scale.size:
                if zp.size == 0:
                    zp = np.zeros(scale.shape, np.int64)
                q = Quant(scale.astype(np.float32), zp.astype(np.int64),
                          _scalar(qt, 6, N.Int32Flags, 0))
        data = None
        raw = buffers[bidx] if bidx < len(buffers) else None
        if raw is not None and raw.size:
            dt = TENSOR_TYPES.get(ttype)
            if dt is None:
                raise ValueError(f"tensor {name}: unsupported constant type {ttype}")
            arr = np.frombuffer(raw.tobytes(), dtype=np.dtype(dt).newbyteorder("<"))
            if arr.size != int(np.prod(shape)):
                raise ValueError(f"tensor {name}: buffer holds {arr.size} values, shape {shape}")
            data = arr.reshape(shape)
        tensors.append(Tensor(ti, name, shape, ttype, bidx, q, data))

    operators = []
    for oi, ot in enumerate(_tables(sg, 3)):
        # Operator: opcode_index0 inputs1 outputs2 builtin_options_type3 builtin_options4
        code = opcodes[_scalar(ot, 0, N.Uint32Flags, 0)]
        opname = BUILTIN_OPS.get(code, f"BUILTIN_{code}")
        ins = [int(x) for x in _numpy(ot, 1, N.Int32Flags)]
        outs = [int(x) for x in _numpy(ot, 2, N.Int32Flags)]
        opts = {}
        ob = _table(ot, 4)
        if ob is not None and opname in OPTION_FIELDS:
            for k, (fi, flags, default) in OPTION_FIELDS[opname].items():
                opts[k] = _scalar(ob, fi, flags, default)
        if ob is not None and opname == "RESHAPE":
            opts["new_shape"] = [int(x) for x in _numpy(ob, 0, N.Int32Flags)]
        operators.append(Operator(oi, code, opname, ins, outs, opts))

    return Model(version, description, tensors, operators,
                 [int(x) for x in _numpy(sg, 1, N.Int32Flags)],
                 [int(x) for x in _numpy(sg, 2, N.Int32Flags)])


if __name__ == "__main__":  # dump a model: python3 tflite_reader.py model.tflite
    import sys
    from collections import Counter
    m = read_model(sys.argv[1])
    print(f"version {m.version} description {m.description!r}")
    print(f"{len(m.tensors)} tensors, {len(m.operators)} operators:",
          dict(Counter(o.op for o in m.operators)))
    for i in m.inputs + m.outputs:
        t = m.tensors[i]
        print("io", i, t.name, t.shape, t.type_name, t.quant)
    for o in m.operators:
        print(o.index, o.op, o.options,
              [(m.tensors[i].name, m.tensors[i].shape) for i in o.inputs], "->",
              [(m.tensors[i].name, m.tensors[i].shape) for i in o.outputs])
