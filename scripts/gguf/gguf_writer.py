"""gguf_writer — a small writer for GGUF v3 files (the model format of
llama.cpp), with F32, F16, BF16, Q8_0 and Q4_0 tensors.

Written from the format's description (magic "GGUF", version 3, key/value
metadata, tensor infos, 32-byte aligned data); numpy only.

    from gguf_writer import GGUFWriter
    w = GGUFWriter("out.gguf", arch="llama")
    w.add_uint32("llama.block_count", 6)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", ["<unk>", "<s>"], STRING)
    w.add_tensor("token_embd.weight", emb, "Q8_0")  # numpy [rows, cols]
    w.add_tensor_lazy("blk.0.ffn_up.weight", (512, 192), "Q4_0", make_fn)
    w.write()

Shapes are given the numpy way ([rows, cols], row-major); GGUF stores the
dimensions innermost-first, so the file says [cols, rows].  Quantised types
quantise along rows in blocks of 32, so the innermost dimension must be a
multiple of 32.
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# Metadata value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, \
    UINT64, INT64, FLOAT64 = range(13)

_SCALAR = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I",
           INT32: "<i", FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q",
           FLOAT64: "<d"}
_NUMPY_ARRAY = {UINT8: "<u1", INT8: "<i1", UINT16: "<u2", INT16: "<i2",
                UINT32: "<u4", INT32: "<i4", FLOAT32: "<f4", BOOL: "<u1",
                UINT64: "<u8", INT64: "<i8", FLOAT64: "<f8"}

# Tensor types: (ggml type id, elements per block, bytes per block).
TENSOR_TYPES = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "BF16": (30, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q8_0": (8, 32, 34),
}
QK = 32

# llama.cpp's general.file_type values for the common "all tensors" types.
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "BF16": 32}

# Token types of tokenizer.ggml.token_type.
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, \
    TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6


def quantize_q8_0(x):
    """[..., n] float -> bytes of Q8_0 blocks along the last axis: per block
    of 32, an f16 scale d = max|x| / 127 and 32 int8 q = round(x / d)."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] % QK:
        raise ValueError("Q8_0 needs the innermost dimension to be a "
                         "multiple of 32, got %d" % x.shape[-1])
    b = x.reshape(-1, QK)
    amax = np.abs(b).max(axis=1)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    v = b * inv[:, None]
    # round half away from zero, as C's roundf
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).clip(-127, 127).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def dequantize_q8_0(data, n):
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 34)[: n // QK]
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    q = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
    return (q * d).reshape(-1)


def quantize_q4_0(x):
    """[..., n] float -> bytes of Q4_0 blocks: per block of 32, an f16 scale
    d = m / -8 where m is the value of largest magnitude (sign kept), and 32
    4-bit q = clamp(round-half-up(x / d) + 8, 0, 15); byte j holds element j
    in its low nibble and element j + 16 in its high nibble."""
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] % QK:
        raise ValueError("Q4_0 needs the innermost dimension to be a "
                         "multiple of 32, got %d" % x.shape[-1])
    b = x.reshape(-1, QK)
    idx = np.abs(b).argmax(axis=1)
    m = b[np.arange(b.shape[0]), idx]
    d = m / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.floor(b * inv[:, None] + 8.5).clip(0, 15).astype(np.uint8)
    out = np.empty((b.shape[0], 18), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).reshape(-1, 1).view(np.uint8)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def dequantize_q4_0(data, n):
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 18)[: n // QK]
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    p = blocks[:, 2:]
    q = np.concatenate([p & 0x0F, p >> 4], axis=1).astype(np.float32) - 8.0
    return (q * d).reshape(-1)


def to_bf16(x):
    """float -> uint16 bfloat16 bits (round to nearest even; NaN kept)."""
    u = np.ascontiguousarray(x, dtype="<f4").view("<u4")
    r = (u + (0x7FFF + ((u >> 16) & 1))) >> 16
    r = np.where(np.isnan(x), (u >> 16) | 0x40, r)
    return r.astype("<u2")


def encode_tensor(arr, ttype):
    """The bytes of arr stored as ttype."""
    if ttype == "F32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if ttype == "F16":
        return np.ascontiguousarray(arr, dtype="<f2").tobytes()
    if ttype == "BF16":
        return to_bf16(np.asarray(arr, dtype=np.float32)).tobytes()
    if ttype == "Q8_0":
        return quantize_q8_0(arr)
    if ttype == "Q4_0":
        return quantize_q4_0(arr)
    raise ValueError("unsupported tensor type " + ttype)


def tensor_nbytes(shape, ttype):
    _, block, size = TENSOR_TYPES[ttype]
    n = 1
    for s in shape:
        n *= int(s)
    if n % block:
        raise ValueError("%s needs a multiple of %d elements" % (ttype, block))
    return n // block * size


def _str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    def __init__(self, path, arch=None):
        self.path = path
        self.kv = []        # (key, bytes of type + value)
        self.tensors = []   # (name, shape, ttype, producer)
        if arch:
            self.add_string("general.architecture", arch)

    # ---- metadata ----------------------------------------------------------
    def add_kv(self, key, value, vtype):
        self.kv.append((key, struct.pack("<I", vtype) + self._value(value, vtype)))

    def _value(self, value, vtype):
        if vtype == STRING:
            return _str(value)
        return struct.pack(_SCALAR[vtype], value)

    def add_string(self, key, v): self.add_kv(key, v, STRING)
    def add_uint32(self, key, v): self.add_kv(key, int(v), UINT32)
    def add_int32(self, key, v): self.add_kv(key, int(v), INT32)
    def add_uint64(self, key, v): self.add_kv(key, int(v), UINT64)
    def add_float32(self, key, v): self.add_kv(key, float(v), FLOAT32)
    def add_bool(self, key, v): self.add_kv(key, bool(v), BOOL)

    def add_array(self, key, values, elem_type):
        head = struct.pack("<IIQ", ARRAY, elem_type, len(values))
        if elem_type == STRING:
            body = b"".join(_str(v) for v in values)
        else:
            body = np.asarray(values, dtype=_NUMPY_ARRAY[elem_type]).tobytes()
        self.kv.append((key, head + body))

    # ---- tensors -----------------------------------------------------------
    def add_tensor(self, name, arr, ttype="F32"):
        """Adds a tensor from a numpy array (converted when written)."""
        arr = np.asarray(arr)
        self.add_tensor_lazy(name, arr.shape, ttype, lambda a=arr: a)

    def add_tensor_lazy(self, name, shape, ttype, make):
        """Adds a tensor whose float data make() returns at write time, so a
        large file is written without holding all tensors in memory."""
        if ttype not in TENSOR_TYPES:
            raise ValueError("unsupported tensor type " + ttype)
        if any(t[0] == name for t in self.tensors):
            raise ValueError("duplicate tensor " + name)
        tensor_nbytes(shape, ttype)  # validates block divisibility
        if TENSOR_TYPES[ttype][1] > 1 and int(shape[-1]) % QK:
            raise ValueError("%s: innermost dimension %d is not a multiple "
                             "of 32" % (name, shape[-1]))
        self.tensors.append((name, tuple(int(s) for s in shape), ttype, make))

    # ---- output ------------------------------------------------------------
    def write(self):
        infos = []
        offset = 0
        for name, shape, ttype, _ in self.tensors:
            dims = list(reversed(shape))  # GGUF: innermost dimension first
            info = _str(name) + struct.pack("<I", len(dims))
            info += b"".join(struct.pack("<Q", d) for d in dims)
            info += struct.pack("<IQ", TENSOR_TYPES[ttype][0], offset)
            infos.append(info)
            offset += tensor_nbytes(shape, ttype)
            offset = (offset + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
        with open(self.path, "wb") as f:
            f.write(GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION,
                                             len(self.tensors), len(self.kv)))
            for key, val in self.kv:
                f.write(_str(key) + val)
            for info in infos:
                f.write(info)
            self._pad(f)
            for name, shape, ttype, make in self.tensors:
                data = encode_tensor(make(), ttype)
                if len(data) != tensor_nbytes(shape, ttype):
                    raise ValueError("%s: data does not match shape %s"
                                     % (name, shape))
                f.write(data)
                self._pad(f)

    @staticmethod
    def _pad(f):
        pos = f.tell()
        f.write(b"\0" * ((ALIGNMENT - pos % ALIGNMENT) % ALIGNMENT))


def read_gguf(path):
    """Reads a GGUF file back: (metadata dict, {name: (shape, ttype, bytes)}).
    Shapes come back numpy-style ([rows, cols]).  For tests."""
    types = {v[0]: k for k, v in TENSOR_TYPES.items()}
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal pos
        n = take("<Q")
        s = buf[pos:pos + n].decode("utf-8")
        pos += n
        return s

    def value(t):
        if t == STRING:
            return string()
        if t == ARRAY:
            et, n = take("<I"), take("<Q")
            return [value(et) for _ in range(n)]
        return take(_SCALAR[t])

    if buf[:4] != GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    pos = 4
    version, n_tensors, n_kv = take("<I"), take("<Q"), take("<Q")
    if version != GGUF_VERSION:
        raise ValueError("GGUF version %d" % version)
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        nd = take("<I")
        dims = [take("<Q") for _ in range(nd)]
        t, off = take("<I"), take("<Q")
        infos.append((name, tuple(reversed(dims)), types[t], off))
    align = meta.get("general.alignment", ALIGNMENT)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, shape, ttype, off in infos:
        n = tensor_nbytes(shape, ttype)
        tensors[name] = (shape, ttype, buf[start + off:start + off + n])
    return meta, tensors


def decode_tensor(shape, ttype, data):
    """Float32 numpy array of a tensor read by read_gguf."""
    n = 1
    for s in shape:
        n *= s
    if ttype == "F32":
        a = np.frombuffer(data, dtype="<f4")
    elif ttype == "F16":
        a = np.frombuffer(data, dtype="<f2").astype(np.float32)
    elif ttype == "BF16":
        a = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    elif ttype == "Q8_0":
        a = dequantize_q8_0(data, n)
    else:
        a = dequantize_q4_0(data, n)
    return a.reshape(shape)
