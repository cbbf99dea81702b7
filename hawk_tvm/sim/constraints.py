"""Hardware constraint checks: the structured errors with which silicon would reject a scheduled candidate."""

from __future__ import annotations

import math
from typing import Any

from ..errors import HawkError
from ..hardware.profile import HardwareProfile
from .nest import PARALLEL, PIPELINE_STAGE, VECTORIZED, Leaf, Loop, Node, Seq, Tree, extract, walk

CODES = ("capacity", "alignment", "mma_operand_level", "mma_tile", "mma_dtype", "offchip_compute",
         "vector_operand_level", "data_path", "unknown_scope", "load3d")


def sim_error(code: str, message: str, **context: Any) -> HawkError:
    """A ``sim.<code>`` error with `code` in its context."""
    return HawkError(f"sim.{code}", message, {"code": code, **context})


def check_constraints(mod_or_tree: Any, profile: HardwareProfile) -> list[HawkError]:
    """Every constraint the candidate breaks on `profile` (empty list = legal). CPU profiles have none."""
    if not profile.is_npu:
        return []
    tree = mod_or_tree if isinstance(mod_or_tree, Tree) else extract(mod_or_tree)
    errors: list[HawkError] = []
    errors += _scopes(tree, profile)
    if any(e.context["code"] == "unknown_scope" for e in errors):
        return errors
    errors += _capacity(tree, profile)
    for node, stack in walk(tree.body):
        if isinstance(node, Leaf):
            errors += _leaf(node, stack, profile)
        elif isinstance(node, Loop) and node.kind == VECTORIZED:
            errors += _vector_length(node, profile)
    return _dedup(errors)


def _dedup(errors: list[HawkError]) -> list[HawkError]:
    seen, out = set(), []
    for e in errors:
        key = (e.kind, e.message)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _scopes(tree: Tree, profile: HardwareProfile) -> list[HawkError]:
    known = [lv.scope for lv in profile.memory if lv.scope]
    return [sim_error("unknown_scope", f"buffer {b.name} is in scope '{b.scope}', which {profile.name} does not have "
                      f"(levels: {', '.join(known)})", level=b.scope, buffer=b.name)
            for b in tree.buffers if profile.level(b.scope) is None]


def _footprint(nodes: list[Node], mult: dict[str, int]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Peak bytes per scope live at once below `nodes` (nested allocations add, siblings take the max)."""
    peak: dict[str, int] = {}
    who: dict[str, list[str]] = {}
    for n in nodes:
        fp, names = _node_footprint(n, mult)
        for scope, val in fp.items():
            if val > peak.get(scope, 0):
                peak[scope], who[scope] = val, names[scope]
    return peak, who


def _node_footprint(node: Node, mult: dict[str, int]) -> tuple[dict[str, int], dict[str, list[str]]]:
    if isinstance(node, Leaf):
        return {}, {}
    if isinstance(node, Loop):
        inner_mult = dict(mult)
        if node.pipelined:
            inner_mult.update(_pipeline_versions(node))
        return _footprint(node.body, inner_mult)
    own: dict[str, int] = {}
    names: dict[str, list[str]] = {}
    db_written = {lf.store.buffer.name for lf in _leaves(node.body) if lf.double_buffered and lf.store}
    for buf in node.allocs:
        copies = max(mult.get(buf.name, 1), 2 if buf.name in db_written else 1)
        own[buf.scope] = own.get(buf.scope, 0) + buf.nbytes * copies
        names.setdefault(buf.scope, []).append(f"{buf.name}{'x' + str(copies) if copies > 1 else ''}")
    child, child_names = _footprint(node.body, mult)
    for scope, val in child.items():
        own[scope] = own.get(scope, 0) + val
        names[scope] = names.get(scope, []) + child_names[scope]
    return own, names


def _leaves(nodes: list[Node]) -> list[Leaf]:
    return [n for n, _ in walk(nodes) if isinstance(n, Leaf)]


def _pipeline_versions(loop: Loop) -> dict[str, int]:
    """Buffers written in an early stage of a software-pipelined loop live in (max_stage - stage + 1) versions."""
    stages = [int(s) for s in loop.annotations[PIPELINE_STAGE]]
    children = loop.body
    if len(children) == 1 and isinstance(children[0], Seq):
        children = children[0].body
    versions: dict[str, int] = {}
    top = max(stages) if stages else 0
    for child, stage in zip(children, stages, strict=False):
        for lf in _leaves([child]):
            if lf.store is not None and stage < top:
                versions[lf.store.buffer.name] = max(versions.get(lf.store.buffer.name, 1), top - stage + 1)
    return versions


def _capacity(tree: Tree, profile: HardwareProfile) -> list[HawkError]:
    peak, who = _footprint([Seq(tree.body)], {})
    errors = []
    for scope, used in sorted(peak.items()):
        level = profile.level(scope)
        if level is None or level.offchip or used <= level.capacity_bytes:
            continue
        errors.append(sim_error(
            "capacity", f"{scope} holds {used} bytes at once ({', '.join(who[scope])}) but has {level.capacity_bytes}",
            level=scope, requested=used, limit=level.capacity_bytes, buffer=", ".join(who[scope])))
    return errors


def _leaf(leaf: Leaf, stack: list[Loop], profile: HardwareProfile) -> list[HawkError]:
    if leaf.kind == "mma":
        return _mma(leaf, stack, profile)
    if (leaf.intrin or {}).get("name") == "load3d":
        return _load3d(leaf, stack, profile)
    if leaf.kind == "move":
        return _move(leaf, stack, profile)
    vec = next((lp for lp in reversed(stack) if lp.kind == VECTORIZED), None)
    if vec is None or (leaf.kind == "fill" and leaf.store.buffer.scope != "global"):
        return []  # scalar path: legal anywhere (slow); fills of on-chip buffers are done by the owning unit
    errors = []
    for buf in leaf.buffers():
        if buf.scope == "global":
            errors.append(sim_error(
                "offchip_compute", f"vectorized loop {vec.name} in {leaf.name} reads/writes off-chip buffer "
                f"{buf.name} directly; move it on chip (e.g. cache_read to {_vector_scope(profile)}) first",
                level="global", buffer=buf.name, loop=vec.name, unit="vector"))
        elif profile.vector is not None and buf.scope != profile.vector.operand_level:
            errors.append(sim_error(
                "vector_operand_level", f"vectorized loop {vec.name} in {leaf.name} uses {buf.name} in {buf.scope}; "
                f"the vector unit only works on {profile.vector.operand_level}",
                level=buf.scope, buffer=buf.name, loop=vec.name, unit="vector",
                requested=buf.scope, limit=profile.vector.operand_level))
    return errors


def _vector_scope(profile: HardwareProfile) -> str:
    return profile.vector.operand_level if profile.vector else "an on-chip level"


def _vector_length(loop: Loop, profile: HardwareProfile) -> list[HawkError]:
    if profile.vector is None:
        return []
    level = profile.level(profile.vector.operand_level)
    align = level.alignment_bytes if level else 1
    elem = max((lf.store.buffer.elem_bytes for lf in _leaves(loop.body) if lf.store and lf.kind != "move"), default=0)
    length = loop.extent * elem
    if elem and length % align:
        return [sim_error("alignment", f"vectorized loop {loop.name} covers {length} bytes, not a multiple of the "
                          f"{align}-byte alignment of {level.scope}", level=level.scope, requested=length,
                          limit=align, loop=loop.name)]
    return []


def _move(leaf: Leaf, stack: list[Loop], profile: HardwareProfile) -> list[HawkError]:
    src, dst = leaf.loads[0].buffer, leaf.store.buffer
    path = profile.path(src.scope, dst.scope)
    if path is None:
        paths = ", ".join(f"{p.src}->{p.dst}" for p in profile.paths if p.src == src.scope or p.dst == dst.scope)
        return [sim_error("data_path", f"no data path {src.scope} -> {dst.scope} for {leaf.name} ({src.name} -> "
                          f"{dst.name}); available: {paths}", level=dst.scope, buffer=dst.name,
                          requested=f"{src.scope}->{dst.scope}")]
    errors = []
    nbytes = leaf.elements * dst.elem_bytes
    for access in (leaf.store, leaf.loads[0]):
        buf = access.buffer
        level = profile.level(buf.scope)
        align = level.alignment_bytes if level else 1
        if align <= 1:
            continue
        if not level.offchip and nbytes % align and not _padded_rows(leaf, buf, align):
            errors.append(sim_error("alignment", f"transfer {leaf.name} moves {nbytes} bytes into/out of {buf.scope}, "
                                    f"not a multiple of its {align}-byte alignment", level=buf.scope, buffer=buf.name,
                                    requested=nbytes, limit=align, loop=_loop_name(leaf, stack)))
            continue
        start = _start_alignment(access, leaf.nest)
        if start is not None and start % align:
            errors.append(sim_error("alignment", f"transfer {leaf.name} starts at a {start}-byte granularity in "
                                    f"{buf.name} ({buf.scope}), which needs {align}-byte aligned starts",
                                    level=buf.scope, buffer=buf.name, requested=start, limit=align,
                                    loop=_loop_name(leaf, stack)))
    return errors


def _load3d(leaf: Leaf, stack: list[Loop], profile: HardwareProfile) -> list[HawkError]:
    """The img2col load L1 -> L0A (Ascend C LoadData 3D / CCE img2colv2_cbuf_to_ca): it reads conv windows of an
    L1 feature map at any position, so only the L0A side must be aligned; stride 1..63, kernel 1..255 and pad
    0..255 are fields of the instruction (the pad is applied by the instruction, never a padded copy)."""
    from .intrinsics import LOAD3D_LIMITS

    info = leaf.intrin or {}
    geo = info.get("geometry")
    where = {"buffer": leaf.name, "loop": _loop_name(leaf, stack)}
    if geo is None:
        return [sim_error("load3d", f"load3d {leaf.name}: malformed geometry {info.get('raw')!r} (want "
                          "'sh,sw,kh,kw,pt,pb,pl,pr')", requested=info.get("raw"), **where)]
    if leaf.kind != "move" or not leaf.loads:
        return [sim_error("load3d", f"load3d {leaf.name} is not a copy of one L1 feature map into L0A", **where)]
    src, dst = leaf.loads[0].buffer, leaf.store.buffer
    l1 = next((lv.scope for lv in profile.memory if lv.tag == "l1"), None)
    l0a = profile.matrix.operand_levels["a"] if profile.matrix else None
    if src.scope != l1 or dst.scope != l0a:
        return [sim_error("load3d", f"load3d {leaf.name} goes {src.scope} -> {dst.scope}; the instruction reads "
                          f"{l1} and writes {l0a}", level=dst.scope, requested=f"{src.scope}->{dst.scope}",
                          limit=f"{l1}->{l0a}", **where)]
    errors = []
    for field_name, (lo, hi) in LOAD3D_LIMITS.items():
        for v in geo[field_name]:
            if not lo <= v <= hi:
                errors.append(sim_error("load3d", f"load3d {leaf.name}: {field_name} {v} outside the instruction's "
                                        f"range {lo}..{hi}", requested=v, limit=hi if v > hi else lo,
                                        field=field_name, **where))
    level = profile.level(dst.scope)
    nbytes = leaf.elements * dst.elem_bytes
    if level is not None and level.alignment_bytes > 1 and nbytes % level.alignment_bytes:
        errors.append(sim_error("alignment", f"load3d {leaf.name} writes {nbytes} bytes into {dst.scope}, not a "
                                f"multiple of its {level.alignment_bytes}-byte fractal alignment", level=dst.scope,
                                requested=nbytes, limit=level.alignment_bytes, **where))
    return errors


def _padded_rows(leaf: Leaf, buf: Any, align: int) -> bool:
    """A GM <-> on-chip transfer of a partial tile (the valid rows/columns of an odd-sized operand) into an
    on-chip buffer whose rows are aligned: the movers pad each row on chip (Ascend C DataCopyPad; Fixpipe takes
    any m/n size out of L0C), so only the row pitch and the start need the alignment, not the valid length."""
    other = leaf.loads[0].buffer if buf is leaf.store.buffer else leaf.store.buffer
    if other.scope != "global" or len(buf.shape) < 2 or not leaf.nest:
        return False
    pitch = buf.shape[-1] * buf.elem_bytes
    return pitch > 0 and pitch % align == 0 and leaf.nest[-1].extent <= buf.shape[-1]


def _loop_name(leaf: Leaf, stack: list[Loop]) -> str:
    return leaf.nest[0].name if leaf.nest else (stack[-1].name if stack else "")


def _start_alignment(access: Any, nest: list[Loop]) -> int | None:
    """The byte granularity of the transfer's start offset over the outer loops (gcd of coefficient and base)."""
    import tvm

    buf = access.buffer
    if not access.indices or any(s < 0 for s in buf.shape):
        return None
    strides = [math.prod(buf.shape[i + 1:]) for i in range(len(buf.shape))]
    offset: Any = 0
    for idx, stride in zip(access.indices, strides, strict=False):
        offset = offset + idx * stride
    analyzer = tvm.sym.Analyzer()
    for lp in nest:
        analyzer.bind(lp.var, tvm.tirx.const(0, str(lp.var.ty.dtype)))
    offset = analyzer.simplify(offset) if not isinstance(offset, int) else offset
    if isinstance(offset, int) or hasattr(offset, "value"):
        value = int(getattr(offset, "value", offset))
        return value * buf.elem_bytes
    mset = analyzer.modular_set(offset)
    coeff, base = int(mset.coeff), int(mset.base)
    gran = math.gcd(coeff, base) if coeff else base
    return gran * buf.elem_bytes if gran else 0


def _mma(leaf: Leaf, stack: list[Loop], profile: HardwareProfile) -> list[HawkError]:
    info = leaf.intrin or {}
    name = info.get("name", leaf.name)
    if "m" not in info:
        return [sim_error("mma_tile", f"matrix intrinsic {name}: could not read its operand shapes",
                          buffer=name)]
    if profile.matrix is None:
        return [sim_error("mma_dtype", f"{profile.name} has no matrix unit (used {name})", unit="cube")]
    shape = (info["m"], info["n"], info["k"])
    tiles = [t for t in profile.matrix.tiles if t.in_dtype == info["in_dtype"] and t.out_dtype == info["out_dtype"]]
    errors = []
    if not tiles:
        pairs = ", ".join(f"{t.in_dtype}->{t.out_dtype}" for t in profile.matrix.tiles)
        errors.append(sim_error("mma_dtype", f"matrix unit of {profile.name} has no {info['in_dtype']}->"
                                f"{info['out_dtype']} mode (has {pairs}); used by {name}", unit="cube",
                                requested=f"{info['in_dtype']}->{info['out_dtype']}", limit=pairs))
    elif not any((t.m, t.n, t.k) == shape for t in tiles):
        want = ", ".join(f"{t.m}x{t.n}x{t.k}" for t in tiles)
        errors.append(sim_error("mma_tile", f"matrix tile {shape[0]}x{shape[1]}x{shape[2]} of {name} is not a tile of "
                                f"{profile.name}'s matrix unit for {info['in_dtype']} ({want})", unit="cube",
                                requested="x".join(map(str, shape)), limit=want))
    for role in ("a", "b", "c"):
        want, got = profile.matrix.operand_levels[role], info[f"scope_{role}"]
        if got != want:
            errors.append(sim_error("mma_operand_level", f"matrix operand {role.upper()} of {name} is in {got}; "
                                    f"{profile.name} needs it in {want}", level=got, requested=got, limit=want,
                                    unit="cube", buffer=role.upper()))
    return errors


def parallel_extent(tree: Tree) -> int:
    """Extent of the outermost parallel loop (1 when none)."""
    for node, _ in walk(tree.body):
        if isinstance(node, Loop) and node.kind == PARALLEL:
            return node.extent
    return 1
