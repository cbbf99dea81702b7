"""HardwareProfile: a target's memory levels, data paths and compute units, loaded and validated from JSON."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HawkError

PROFILE_DIR = Path(__file__).parent / "profiles"
SCOPE_RE = re.compile(r"^(global|shared|local|warp)(\.[a-z_][a-z0-9_]*)?$")
KINDS = ("npu", "cpu")
DTYPE_BYTES = {
    "int8": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1,
    "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2,
    "int32": 4, "uint32": 4, "float32": 4,
    "int64": 8, "uint64": 8, "float64": 8,
}


class ProfileError(ValueError):
    """A profile file that does not validate: names the file and the offending field."""

    def __init__(self, file: str, field_name: str, message: str) -> None:
        super().__init__(f"{file}: field '{field_name}': {message}")
        self.file = file
        self.field = field_name
        self.reason = message

    def to_hawk_error(self) -> HawkError:
        """The same failure as data."""
        return HawkError("profile", self.reason, {"file": self.file, "field": self.field})


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of a scalar TVM dtype (``float16`` -> 2); vector dtypes count their lanes."""
    base, _, lanes = str(dtype).partition("x")
    if base in DTYPE_BYTES:
        return DTYPE_BYTES[base] * (int(lanes) if lanes.isdigit() else 1)
    match = re.match(r"^[a-z]+?(\d+)$", base)
    return max(1, int(match.group(1)) // 8) if match else 4


@dataclass(frozen=True)
class MemoryLevel:
    """One memory level: a TVM storage scope (None for hardware caches) with capacity, alignment and bandwidth."""

    tag: str
    scope: str | None
    capacity_bytes: int
    alignment_bytes: int
    bandwidth_bytes_per_cycle: float
    offchip: bool = False
    cache: bool = False
    scalar_access_cycles: float = 1.0


@dataclass(frozen=True)
class DataPath:
    """An allowed transfer between two scopes and the mover (DMA engine) that performs it."""

    src: str
    dst: str
    mover: str
    bandwidth_bytes_per_cycle: float
    latency_cycles: float = 0.0

    @property
    def pipe(self) -> str:
        """Name of this path's pipe in a cycle breakdown, e.g. ``dma.global->shared.l1``."""
        return f"dma.{self.src}->{self.dst}"


@dataclass(frozen=True)
class MatrixTile:
    """One shape the matrix unit computes per instruction: C[m,n] (out) += A[m,k] * B[k,n] (in)."""

    in_dtype: str
    out_dtype: str
    m: int
    n: int
    k: int
    macs_per_cycle: float

    @property
    def cycles_per_tile(self) -> float:
        """Cycles for one tile instruction."""
        return self.m * self.n * self.k / self.macs_per_cycle


@dataclass(frozen=True)
class MatrixUnit:
    """The matrix (cube) unit: supported tiles and the levels its operands must sit in."""

    tiles: tuple[MatrixTile, ...]
    operand_levels: dict[str, str]

    def tile_for(self, in_dtype: str) -> MatrixTile | None:
        """The tile for an input dtype, or None."""
        return next((t for t in self.tiles if t.in_dtype == in_dtype), None)


@dataclass(frozen=True)
class VectorUnit:
    """The vector unit: vector width, throughput and operand level."""

    vector_bytes: int
    bytes_per_cycle: float
    operand_level: str


@dataclass(frozen=True)
class ScalarUnit:
    """The scalar path: may read any level, slowly."""

    ops_per_cycle: float


@dataclass(frozen=True)
class HardwareProfile:
    """A target's hardware facts (see hawk_tvm/hardware/profiles/*.json)."""

    name: str
    kind: str
    description: str
    clock_hz: float
    cores: int
    memory: tuple[MemoryLevel, ...]
    paths: tuple[DataPath, ...]
    matrix: MatrixUnit | None
    vector: VectorUnit | None
    scalar: ScalarUnit
    sources: tuple[str, ...] = ()
    modelling_choices: tuple[str, ...] = ()
    file: str = ""
    _by_scope: dict[str, MemoryLevel] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_scope.update({lv.scope: lv for lv in self.memory if lv.scope})

    @property
    def is_npu(self) -> bool:
        """True for NPU profiles (explicit scopes, matrix unit, simulator target)."""
        return self.kind == "npu"

    @property
    def offchip(self) -> MemoryLevel:
        """The off-chip level (scope ``global``)."""
        return next(lv for lv in self.memory if lv.offchip)

    def level(self, scope: str) -> MemoryLevel | None:
        """The memory level of a storage scope, or None when the profile has no such level."""
        return self._by_scope.get(scope)

    def level_by_tag(self, tag: str) -> MemoryLevel | None:
        """The memory level with this tag (``l0a``), or None."""
        return next((lv for lv in self.memory if lv.tag == tag), None)

    def path(self, src: str, dst: str) -> DataPath | None:
        """The data path from one scope to another, or None when the hardware has none."""
        return next((p for p in self.paths if p.src == src and p.dst == dst), None)

    def lanes(self, dtype: str) -> int:
        """Elements of `dtype` per vector register."""
        width = self.vector.vector_bytes if self.vector else 16
        return max(1, width // dtype_bytes(dtype))

    def intrinsic_name(self, unit: str, in_dtype: str, out_dtype: str | None = None) -> str:
        """Registered tensor-intrinsic name, e.g. ``hawk.davinci.mma.float16.float32``."""
        return f"hawk.{self.name}.{unit}.{in_dtype}" + (f".{out_dtype}" if out_dtype else "")

    def peak_macs_per_cycle(self, in_dtype: str, unit: str = "best") -> float:
        """Per-core multiply-accumulates (or element ops) per cycle: matrix unit if it takes `in_dtype`, else vector."""
        tile = self.matrix.tile_for(in_dtype) if self.matrix else None
        if tile is not None and unit in ("best", "matrix"):
            return tile.macs_per_cycle
        if self.vector is not None and unit in ("best", "vector"):
            return self.vector.bytes_per_cycle / dtype_bytes(in_dtype)
        return self.scalar.ops_per_cycle

    def program_facts(self, dtype: str) -> dict[str, Any]:
        """The ``HW`` facts a schedule program sees for this dtype (see docs/schedule-programs.md)."""
        facts: dict[str, Any] = {
            "profile": self.name,
            "kind": self.kind,
            "cores": self.cores,
            "vector_bytes": self.vector.vector_bytes if self.vector else 16,
            "lanes": self.lanes(dtype),
        }
        if not self.is_npu:
            for lv in self.memory:
                if lv.cache:
                    facts[f"cap_{lv.tag}"] = lv.capacity_bytes
            return facts
        for lv in self.memory:
            if lv.offchip or lv.cache:  # a hardware cache (the L2) is no scope a program can name
                continue
            facts[f"scope_{lv.tag}"] = lv.scope
            facts[f"cap_{lv.tag}"] = lv.capacity_bytes
            facts[f"align_{lv.tag}"] = lv.alignment_bytes
        tile = self.matrix.tile_for(dtype) if self.matrix else None
        if tile is not None:
            facts.update(mma_m=tile.m, mma_n=tile.n, mma_k=tile.k, mma_out_dtype=tile.out_dtype,
                         intrin_mma=self.intrinsic_name("mma", tile.in_dtype, tile.out_dtype))
        if self.matrix is not None:
            facts["mma_dtypes"] = [f"{t.in_dtype}->{t.out_dtype}" for t in self.matrix.tiles]
        return facts

    def summary(self) -> str:
        """A few lines describing the target, for an LLM prompt."""
        lines = [f"target {self.name} ({self.kind}): {self.description}",
                 f"cores={self.cores} clock={self.clock_hz / 1e9:.2f} GHz"]
        mem = [f"{lv.scope or lv.tag} {_kb(lv.capacity_bytes)} align {lv.alignment_bytes}B"
               for lv in self.memory if not lv.offchip]
        offchip_bw = f"{self.offchip.bandwidth_bytes_per_cycle:g} B/cycle"
        lines.append(f"memory: off-chip global {offchip_bw}; " + "; ".join(mem))
        if self.paths:
            lines.append("data paths: " + ", ".join(f"{p.src}->{p.dst} ({p.mover})" for p in self.paths))
        if self.matrix is not None:
            tiles = ", ".join(f"{t.in_dtype}->{t.out_dtype} {t.m}x{t.n}x{t.k}" for t in self.matrix.tiles)
            ops = self.matrix.operand_levels
            lines.append(f"matrix unit (tensorize only): {tiles}; A in {ops['a']}, B in {ops['b']}, C in {ops['c']}")
        if self.vector is not None:
            lines.append(f"vector unit: {self.vector.vector_bytes} B vectors on {self.vector.operand_level}")
        if self.is_npu:
            lines.append("compute units never read global directly; only the slow scalar path may")
        return "\n".join(lines)


def _kb(n: int) -> str:
    return f"{n // 1024} KB" if n < 1 << 20 else f"{n / (1 << 20):g} MB"


def list_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


_CACHE: dict[str, HardwareProfile] = {}


def load_profile(name_or_path: str | Path) -> HardwareProfile:
    """Load and validate a profile by shipped name (``davinci``) or JSON path; raises ProfileError."""
    text = str(name_or_path)
    path = Path(text) if (text.endswith(".json") or "/" in text) else PROFILE_DIR / f"{text}.json"
    key = str(path.resolve())
    if key in _CACHE:
        return _CACHE[key]
    if not path.is_file():
        raise ProfileError(str(path), "name", f"no profile file (shipped: {', '.join(list_profiles())})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as exc:  # bad JSON or UTF-8, unreadable, absurdly nested
        raise ProfileError(str(path), "<json>", f"not valid JSON: {str(exc)[:200]}") from None
    try:
        profile = profile_from_dict(data, file=str(path))
    except ProfileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:  # a shape no check names yet
        raise ProfileError(str(path), "<root>", f"malformed profile ({type(exc).__name__}: {exc})"[:300]) from None
    _CACHE[key] = profile
    return profile


def profile_from_dict(data: Any, file: str = "<dict>") -> HardwareProfile:
    """Validate a profile document and build the HardwareProfile; raises ProfileError naming the field."""
    v = _Validator(file)
    if not isinstance(data, dict):
        raise ProfileError(file, "<root>", "must be a JSON object")
    name = v.string(data, "name")
    kind = v.string(data, "kind")
    if kind not in KINDS:
        raise ProfileError(file, "kind", f"must be one of {KINDS}, got {kind!r}")
    memory = tuple(v.level(lv, f"memory[{i}]") for i, lv in enumerate(v.list(data, "memory")))
    offchip = [lv for lv in memory if lv.offchip]
    if len(offchip) != 1 or offchip[0].scope != "global":
        raise ProfileError(file, "memory", "needs exactly one level with offchip=true and scope 'global'")
    scopes = [lv.scope for lv in memory if lv.scope]
    if len(set(scopes)) != len(scopes):
        raise ProfileError(file, "memory", "scopes must be unique")
    paths = tuple(v.path(p, f"paths[{i}]", scopes) for i, p in enumerate(v.list(data, "paths")))
    units = v.dict(data, "units")
    matrix = v.matrix(units["matrix"], "units.matrix", scopes) if units.get("matrix") is not None else None
    vector = v.vector(units["vector"], "units.vector", scopes) if units.get("vector") is not None else None
    scalar = ScalarUnit(v.positive(v.dict(units, "scalar", "units"), "ops_per_cycle", "units.scalar"))
    if kind == "npu" and any(lv.scope is None and not lv.cache for lv in memory):
        raise ProfileError(file, "memory", "every level of an npu profile needs a scope (or cache: true, e.g. an L2)")
    return HardwareProfile(
        name=name, kind=kind, description=str(data.get("description", "")),
        clock_hz=v.positive(data, "clock_hz"), cores=int(v.positive(data, "cores", integer=True)),
        memory=memory, paths=paths, matrix=matrix, vector=vector, scalar=scalar,
        sources=v.strings(data, "sources"), modelling_choices=v.strings(data, "modelling_choices"), file=file,
    )


class _Validator:
    """Field checks that raise ProfileError with the file and a dotted field path."""

    def __init__(self, file: str) -> None:
        self.file = file

    def _get(self, obj: dict, key: str, where: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise ProfileError(self.file, _join(where, key), "missing")
        return obj[key]

    def string(self, obj: dict, key: str, where: str = "") -> str:
        val = self._get(obj, key, where)
        if not isinstance(val, str) or not val:
            raise ProfileError(self.file, _join(where, key), f"must be a non-empty string, got {val!r}")
        return val

    def list(self, obj: dict, key: str, where: str = "") -> list:
        val = self._get(obj, key, where)
        if not isinstance(val, list):
            raise ProfileError(self.file, _join(where, key), "must be a list")
        return val

    def dict(self, obj: dict, key: str, where: str = "") -> dict:
        val = self._get(obj, key, where)
        if not isinstance(val, dict):
            raise ProfileError(self.file, _join(where, key), "must be an object")
        return val

    def positive(self, obj: dict, key: str, where: str = "", integer: bool = False) -> float:
        val = self._get(obj, key, where)
        number = not isinstance(val, bool) and isinstance(val, (int, float))
        if not number or not math.isfinite(val) or val <= 0 or (integer and val != int(val)):
            kind = "a positive integer" if integer else "a positive number"
            raise ProfileError(self.file, _join(where, key), f"must be {kind}, got {val!r}")
        return val

    def number(self, obj: dict, key: str, where: str, default: float) -> float:
        """An optional finite number >= 0."""
        val = obj.get(key, default)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val < 0:
            raise ProfileError(self.file, _join(where, key), f"must be a finite number >= 0, got {val!r}")
        return float(val)

    def flag(self, obj: dict, key: str, where: str) -> bool:
        """An optional JSON boolean (a string "false" is not silently true)."""
        val = obj.get(key, False)
        if not isinstance(val, bool):
            raise ProfileError(self.file, _join(where, key), f"must be true or false, got {val!r}")
        return val

    def strings(self, obj: dict, key: str) -> tuple[str, ...]:
        """An optional list of strings."""
        val = obj.get(key, [])
        if not isinstance(val, list) or not all(isinstance(x, str) for x in val):
            raise ProfileError(self.file, key, "must be a list of strings")
        return tuple(val)

    def scope(self, val: Any, where: str, known: list[str] | None = None) -> str:
        if not isinstance(val, str) or not SCOPE_RE.match(val):
            raise ProfileError(self.file, where, f"scope must be '<rank>[.<tag>]' with rank global|shared|local|warp "
                                                 f"(TVM builds only those), got {val!r}")
        if known is not None and val not in known:
            raise ProfileError(self.file, where, f"scope {val!r} is not a memory level of this profile")
        return val

    def dtype(self, obj: dict, key: str, where: str) -> str:
        val = self.string(obj, key, where)
        if val not in DTYPE_BYTES:
            raise ProfileError(self.file, _join(where, key), f"unknown dtype {val!r}")
        return val

    def level(self, obj: dict, where: str) -> MemoryLevel:
        scope = obj.get("scope") if isinstance(obj, dict) else None
        if scope is not None or not (isinstance(obj, dict) and obj.get("cache")):
            self._get(obj, "scope", where)
            scope = self.scope(scope, f"{where}.scope")
        align = self.positive(obj, "alignment_bytes", where, integer=True)
        if int(align) & (int(align) - 1):
            raise ProfileError(self.file, f"{where}.alignment_bytes", f"must be a power of two, got {align}")
        return MemoryLevel(
            tag=self.string(obj, "tag", where), scope=scope,
            capacity_bytes=int(self.positive(obj, "capacity_bytes", where, integer=True)),
            alignment_bytes=int(align),
            bandwidth_bytes_per_cycle=float(self.positive(obj, "bandwidth_bytes_per_cycle", where)),
            offchip=self.flag(obj, "offchip", where), cache=self.flag(obj, "cache", where),
            scalar_access_cycles=float(self.positive(obj, "scalar_access_cycles", where)),
        )

    def path(self, obj: dict, where: str, scopes: list[str]) -> DataPath:
        return DataPath(
            src=self.scope(self._get(obj, "src", where), f"{where}.src", scopes),
            dst=self.scope(self._get(obj, "dst", where), f"{where}.dst", scopes),
            mover=self.string(obj, "mover", where),
            bandwidth_bytes_per_cycle=float(self.positive(obj, "bandwidth_bytes_per_cycle", where)),
            latency_cycles=self.number(obj, "latency_cycles", where, 0.0),
        )

    def matrix(self, obj: dict, where: str, scopes: list[str]) -> MatrixUnit:
        tiles = []
        for i, t in enumerate(self.list(obj, "tiles", where)):
            w = f"{where}.tiles[{i}]"
            tiles.append(MatrixTile(
                in_dtype=self.dtype(t, "in_dtype", w), out_dtype=self.dtype(t, "out_dtype", w),
                m=int(self.positive(t, "m", w, True)), n=int(self.positive(t, "n", w, True)),
                k=int(self.positive(t, "k", w, True)), macs_per_cycle=float(self.positive(t, "macs_per_cycle", w))))
        ops = self._get(obj, "operand_levels", where)
        levels = {r: self.scope(self._get(ops, r, f"{where}.operand_levels"), f"{where}.operand_levels.{r}", scopes)
                  for r in ("a", "b", "c")}
        return MatrixUnit(tuple(tiles), levels)

    def vector(self, obj: dict, where: str, scopes: list[str]) -> VectorUnit:
        return VectorUnit(
            vector_bytes=int(self.positive(obj, "vector_bytes", where, True)),
            bytes_per_cycle=float(self.positive(obj, "bytes_per_cycle", where)),
            operand_level=self.scope(self._get(obj, "operand_level", where), f"{where}.operand_level", scopes),
        )


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
