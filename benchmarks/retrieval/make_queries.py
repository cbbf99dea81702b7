"""Build the labelled retrieval set (queries.yaml) the way the engine builds its queries.

Each pattern or error query names a te operator of `workloads.py`; it is analysed into a real Workload whose
`syntactic_text()` and bottleneck report (host: arithmetic intensity; NPU: the simulator's roofline) become the
query, exactly as `HawkEngine._query` does. Error queries carry a HawkError shaped like the one the simulator
(`sim.<code>` with code/level/unit context, messages in the format of hawk_tvm/sim/constraints.py) or the
sandbox (`schedule`, messages captured from TVM) returns. Text queries are what an engineer types into
`hawk kb search` (the text feeds both spaces, no op-class filter).

Labels ("relevant") were written from the entries' triggers and rationales before any evaluation run: the
entries a compiler engineer would want in front of the LLM for that operator or failure. They cover the 41
entries of the first seed library plus `npu.ub_stage_all_blocks` (the operator-agnostic UB staging floor,
labelled relevant for NPU vector-unit operators and for the staging errors); entries added to the library later
count as not relevant until they are labelled here.

    python benchmarks/retrieval/make_queries.py      # rewrites benchmarks/retrieval/queries.yaml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402

L0B_CAP = "local.l0b holds 131072 bytes at once (B_local) but has 65536"


def _sim(code: str, message: str, **context: Any) -> dict[str, Any]:
    return {"kind": f"sim.{code}", "message": message, "context": {"code": code, **context}}


def _sched(message: str) -> dict[str, Any]:
    return {"kind": "schedule", "message": message, "context": {}}


VEC_FAIL = 'ScheduleError: The "vectorize" cannot be fulfilled with regard to some of its underlying block'
PAR_FAIL = 'ScheduleError: The "parallel" cannot be fulfilled with regard to some of its underlying block'
COMPACT = ("ScheduleError: The queried subtree root in SRef tree does not have compact dataflow, because some of its "
           "child block on SRef tree is neither a local complete block nor a local reduction block.")

# (id, kind, profile, workload or text, relevant ids, error or None, note)
SPECS: list[tuple[str, str, str, str, list[str], dict[str, Any] | None, str]] = [
    # -- host patterns ------------------------------------------------------------------------------------------
    ("h-mm-256", "pattern", "host", "matmul_f32_256",
     ["host.matmul.register_tile", "host.matmul.local_accumulator"], None,
     "256^3 fp32 matmul, compute bound, fits L2: register tile + local accumulator"),
    ("h-mm-2048", "pattern", "host", "matmul_f32_2048",
     ["host.matmul.cache_blocking", "host.matmul.register_tile"], None,
     "2048^3 fp32 matmul, 16 MB operands exceed L2: cache blocking first, register tile inside"),
    ("h-mm-epi", "pattern", "host", "matmul_bias_relu_f32",
     ["host.matmul.epilogue_fusion", "host.any.inline_and_parallel"], None,
     "matmul + bias + relu epilogue"),
    ("h-bmm", "pattern", "host", "batch_matmul_f32",
     ["host.batch_matmul.batch_parallel", "host.matmul.register_tile"], None,
     "16 x 32x32x32: small matrices per batch"),
    ("h-conv", "pattern", "host", "conv2d_f32",
     ["host.conv2d.nchw_ow_vectorize", "host.conv2d.register_accumulator"], None, "NCHW conv with pad block"),
    ("h-conv-epi", "pattern", "host", "conv2d_bias_relu_f32",
     ["host.conv2d.nchw_ow_vectorize", "host.conv2d.register_accumulator", "host.matmul.epilogue_fusion"], None,
     "conv + bias + relu"),
    ("h-dw", "pattern", "host", "depthwise_f32", ["host.depthwise_conv2d.row_vectorize"], None, "depthwise 3x3"),
    ("h-pool", "pattern", "host", "max_pool_f32", ["host.pool.window_unroll"], None, "2x2 max pool"),
    ("h-rowsum", "pattern", "host", "row_sum_f32",
     ["host.reduction.rfactor_vectorize", "host.reduction.row_parallel"], None, "512 rows x 4096"),
    ("h-softmax", "pattern", "host", "softmax_f32", ["host.softmax.row_fused"], None, "4-block softmax"),
    ("h-norm", "pattern", "host", "layer_norm_f32", ["host.norm.row_fused"], None, "layer norm 128 x 768"),
    ("h-addrelu", "pattern", "host", "add_relu_f32",
     ["host.elementwise.fuse_vectorize_parallel", "host.any.inline_and_parallel"], None, "fused add + relu, 1 MB"),
    ("h-add-small", "pattern", "host", "add_f32_small", ["host.elementwise.small_vectorize_only"], None,
     "16 x 32 add: 2 KB"),
    ("h-transpose", "pattern", "host", "transpose_f32", ["host.injective.transpose_tile"], None, "1024x512 transpose"),
    # -- davinci patterns ---------------------------------------------------------------------------------------
    ("d-mm-1024", "pattern", "davinci", "matmul_f16_1024",
     ["davinci.matmul.cube_l1_l0_tiling", "davinci.matmul.cube_big_tile_fp16", "davinci.matmul.double_buffer_l1"],
     None, "fp16 1024^3 on the cube"),
    ("d-mm-4096", "pattern", "davinci", "matmul_f16_4096",
     ["davinci.matmul.cube_big_tile_fp16", "davinci.matmul.cube_l1_l0_tiling", "davinci.matmul.double_buffer_l1"],
     None, "fp16 4096^3"),
    ("d-mm-100", "pattern", "davinci", "matmul_f16_100", ["davinci.matmul.pad_to_fractal"], None,
     "100 is not a multiple of the 16 fractal"),
    ("d-mm-256", "pattern", "davinci", "matmul_f16_256",
     ["davinci.matmul.cube_l1_l0_tiling", "davinci.matmul.double_buffer_l1"], None,
     "small fp16 matmul, memory bound per the roofline"),
    ("d-bmm", "pattern", "davinci", "batch_matmul_f16", ["davinci.batch_matmul.batch_over_cores"], None,
     "32 x 64^3 batches"),
    ("d-addrelu", "pattern", "davinci", "add_relu_f16",
     ["davinci.elementwise.ub_tile_vectorize", "davinci.elementwise.double_buffer_multicore",
      "npu.ub_stage_all_blocks"],
     None, "fp16 add+relu"),
    ("d-softmax", "pattern", "davinci", "softmax_f16",
     ["davinci.softmax.ub_row_split", "npu.ub_stage_all_blocks"],
     None,
     "256 x 8192 fp16 rows: 4 MB, more than UB"),
    ("d-norm", "pattern", "davinci", "layer_norm_f16",
     ["davinci.softmax.ub_row_split", "npu.ub_stage_all_blocks"],
     None, "512 x 4096 fp16"),
    ("d-rowsum", "pattern", "davinci", "row_sum_f16",
     ["davinci.reduction.ub_rows_rfactor", "npu.ub_stage_all_blocks"],
     None, "row sum fp16"),
    ("d-transpose", "pattern", "davinci", "transpose_f16_rect",
     ["davinci.elementwise.double_buffer_multicore", "npu.ub_stage_all_blocks"],
     None,
     "injective layout change: the only NPU injective pattern entry"),
    # -- edge patterns ------------------------------------------------------------------------------------------
    ("e-mm-i8", "pattern", "edge", "matmul_i8_256",
     ["edge.matmul.int8_8x8_tile", "edge.matmul.l0_direct_double_buffer"], None, "int8 matmul on the 8x8x8 unit"),
    ("e-mm-f16", "pattern", "edge", "matmul_f16_1024", ["edge.matmul.l0_direct_double_buffer"], None,
     "fp16 matmul, DRAM bound single core"),
    ("e-bmm", "pattern", "edge", "batch_matmul_f16", ["edge.matmul.l0_direct_double_buffer"], None, "batched"),
    ("e-add-i8", "pattern", "edge", "add_i8",
     ["edge.elementwise.ub_tile_single_core", "davinci.elementwise.ub_tile_vectorize", "npu.ub_stage_all_blocks"],
     None, "int8 add"),
    ("e-softmax", "pattern", "edge", "softmax_f16",
     ["edge.softmax.ub_row_chunks", "npu.ub_stage_all_blocks"],
     None, "softmax on 128 KB UB"),
    ("e-norm", "pattern", "edge", "layer_norm_f16",
     ["edge.softmax.ub_row_chunks", "npu.ub_stage_all_blocks"],
     None, "layer norm on 128 KB UB"),
    # -- simulator errors ---------------------------------------------------------------------------------------
    ("d-err-cap-l0b", "error", "davinci", "matmul_f16_1024", ["npu.fix.capacity_shrink_cube_tile"],
     _sim("capacity", L0B_CAP, level="local.l0b", requested=131072, limit=65536, buffer="B_local"),
     "cube B tile too large for L0B"),
    ("d-err-cap-l0c", "error", "davinci", "matmul_f16_4096", ["npu.fix.capacity_shrink_cube_tile"],
     _sim("capacity", "local.l0c holds 524288 bytes at once (C_local) but has 262144", level="local.l0c",
          requested=524288, limit=262144, buffer="C_local"), "accumulator tile too large for L0C"),
    ("d-err-cap-bmm", "error", "davinci", "batch_matmul_f16", ["npu.fix.capacity_shrink_cube_tile"],
     _sim("capacity", "local.l0a holds 131072 bytes at once (A_local) but has 65536", level="local.l0a",
          requested=131072, limit=65536, buffer="A_local"), "whole batch matrices in L0A"),
    ("d-err-mma-level", "error", "davinci", "matmul_f16_256", ["npu.fix.mma_operand_level"],
     _sim("mma_operand_level", "matrix operand A of hawk_mma_16x16x16_f16f32 is in shared.l1; davinci needs it in "
          "local.l0a", level="shared.l1", requested="shared.l1", limit="local.l0a", unit="cube", buffer="A"),
     "tensorized before staging A into L0A"),
    ("d-err-datapath", "error", "davinci", "matmul_f16_1024",
     ["davinci.matmul.cube_l1_l0_tiling", "npu.fix.mma_operand_level"],
     _sim("data_path", "no data path global -> local.l0a for A_l0a (A -> A_l0a); available: global->shared.l1, "
          "shared.l1->local.l0a", level="local.l0a", buffer="A_l0a", requested="global->local.l0a"),
     "no seed fix entry for data_path: the staging pattern (GM -> L1 -> L0) and the operand-level fix are what "
     "a human would pull"),
    ("d-err-offchip", "error", "davinci", "add_relu_f16",
     ["npu.fix.offchip_compute_stage_ub", "npu.ub_stage_all_blocks"],
     _sim("offchip_compute", "vectorized loop i1_1 in relu reads/writes off-chip buffer A directly; move it on chip "
          "(e.g. cache_read to global.ub) first", level="global", buffer="A", loop="i1_1", unit="vector"),
     "vectorised straight out of GM"),
    ("d-err-vec-level", "error", "davinci", "add_relu_f16",
     ["npu.fix.offchip_compute_stage_ub", "davinci.elementwise.ub_tile_vectorize", "npu.ub_stage_all_blocks"],
     _sim("vector_operand_level", "vectorized loop i1_1 in relu uses A_l1 in shared.l1; the vector unit only works "
          "on global.ub", level="shared.l1", buffer="A_l1", loop="i1_1", unit="vector", requested="shared.l1",
          limit="global.ub"), "vector operands must be in UB: stage into UB"),
    ("d-err-align", "error", "davinci", "add_relu_f16", ["npu.fix.alignment_vector_tile"],
     _sim("alignment", "vectorized loop i1_1 covers 48 bytes, not a multiple of the 32-byte alignment of global.ub",
          level="global.ub", requested=48, limit=32, loop="i1_1"), "24-element fp16 vector tile"),
    ("d-err-ub-softmax", "error", "davinci", "softmax_f16",
     ["npu.fix.ub_capacity_fewer_rows", "davinci.softmax.ub_row_split"],
     _sim("capacity", "global.ub holds 524288 bytes at once (X_ub, exp_ub) but has 262144", level="global.ub",
          requested=524288, limit=262144, buffer="X_ub, exp_ub"), "too many softmax rows staged in UB"),
    ("e-err-ub-norm", "error", "edge", "layer_norm_f16",
     ["npu.fix.ub_capacity_fewer_rows", "edge.softmax.ub_row_chunks"],
     _sim("capacity", "global.ub holds 262144 bytes at once (X_ub) but has 131072", level="global.ub",
          requested=262144, limit=131072, buffer="X_ub"), "layer norm rows over the 128 KB UB"),
    ("e-err-mma-tile", "error", "edge", "matmul_i8_256", ["edge.fix.mma_tile_8x8"],
     _sim("mma_tile", "matrix tile 16x16x16 of hawk_mma_16x16x16_i8i32 is not a tile of edge's matrix unit for "
          "int8 (8x8x8)", unit="cube", requested="16x16x16", limit="8x8x8"), "davinci tile on the edge unit"),
    ("e-err-scope", "error", "edge", "matmul_f16_1024",
     ["edge.fix.unknown_scope_no_l1", "edge.matmul.l0_direct_double_buffer"],
     _sim("unknown_scope", "buffer A_l1 is in scope 'shared.l1', which edge does not have (levels: global, "
          "local.l0a, local.l0b, local.l0c, global.ub)", level="shared.l1", buffer="A_l1"),
     "a davinci-style L1 stage on the edge NPU"),
    ("e-err-gm-align", "error", "edge", "row_sum_f16", ["edge.fix.gm_alignment_rows"],
     _sim("alignment", "transfer X_ub starts at a 2-byte granularity in X (global), which needs 64-byte aligned "
          "starts", level="global", buffer="X", requested=2, limit=64, loop="k_0"), "row chunk starts unaligned"),
    ("e-err-align-i8", "error", "edge", "add_i8", ["npu.fix.alignment_vector_tile"],
     _sim("alignment", "transfer A_ub moves 96 bytes into/out of global.ub, not a multiple of its 64-byte "
          "alignment", level="global.ub", buffer="A_ub", requested=96, limit=64, loop="i1_0"), "UB tile of 96 B"),
    ("e-err-cap-mm", "error", "edge", "matmul_i8_256", ["npu.fix.capacity_shrink_cube_tile"],
     _sim("capacity", "local.l0b holds 32768 bytes at once (B_local) but has 16384", level="local.l0b",
          requested=32768, limit=16384, buffer="B_local"), "davinci-sized tile on the 16 KB L0B"),
    # -- host schedule errors (messages captured from the sandbox) ------------------------------------------------
    ("h-err-vec-mm", "error", "host", "matmul_f32_256", ["host.fix.vectorize_reduction_loop"], _sched(VEC_FAIL),
     "vectorize on the k loop"),
    ("h-err-vec-rowsum", "error", "host", "row_sum_f32",
     ["host.fix.vectorize_reduction_loop", "host.reduction.rfactor_vectorize"], _sched(VEC_FAIL),
     "vectorize the reduced axis: rfactor is the fix"),
    ("h-err-par-softmax", "error", "host", "softmax_f32", ["host.fix.parallel_reduction_loop"], _sched(PAR_FAIL),
     "parallel on the expsum reduction loop"),
    ("h-err-par-conv", "error", "host", "conv2d_f32", ["host.fix.parallel_reduction_loop"], _sched(PAR_FAIL),
     "parallel on rc"),
    ("h-err-compact", "error", "host", "matmul_bias_relu_f32",
     ["host.matmul.epilogue_fusion", "host.any.inline_and_parallel"], _sched(COMPACT),
     "decompose_reduction with the epilogue not inlined: no fix entry, the epilogue entries explain it"),
    ("h-err-tail", "error", "host", "add_relu_f32", ["host.fix.non_divisible_split"],
     {"kind": "numerics", "message": "output: 256 of 262144 elements differ (max abs error 3.1, rtol 0.0001)",
      "context": {"mismatched": 256, "max_abs_error": 3.1, "rtol": 0.0001}}, "split by 24 on 1024: tail wrong"),
    # -- `hawk kb search` free text -------------------------------------------------------------------------------
    ("t-ub-softmax", "text", "davinci", "unified buffer overflow when staging softmax rows",
     ["npu.fix.ub_capacity_fewer_rows", "davinci.softmax.ub_row_split"], None, ""),
    ("t-transpose", "text", "host", "transpose with strided reads, tile for the cache",
     ["host.injective.transpose_tile"], None, ""),
    ("t-double-buffer", "text", "davinci", "double buffer so MTE2 transfers overlap the compute units",
     ["davinci.matmul.double_buffer_l1", "davinci.elementwise.double_buffer_multicore"], None, ""),
    ("t-vec-reduce", "text", "host", "cannot vectorize the reduction loop",
     ["host.fix.vectorize_reduction_loop", "host.reduction.rfactor_vectorize"], None, ""),
    ("t-int8", "text", "edge", "int8 matmul on the 8x8 matrix unit",
     ["edge.matmul.int8_8x8_tile", "edge.fix.mma_tile_8x8"], None, ""),
    ("t-tiny", "text", "host", "tiny tensor where thread start-up dominates",
     ["host.elementwise.small_vectorize_only"], None, ""),
    ("t-fractal", "text", "davinci", "matmul shape not a multiple of 16, pad to the fractal tile",
     ["davinci.matmul.pad_to_fractal"], None, ""),
    ("t-no-l1", "text", "edge", "no L1 on this NPU, load operands from DRAM straight into L0",
     ["edge.fix.unknown_scope_no_l1", "edge.matmul.int8_8x8_tile"], None, ""),
]

workloads.OPERATORS["transpose_f16_rect"] = lambda: workloads.transpose(2048, 1024, workloads.F16)


def build() -> list[dict[str, Any]]:
    """The materialised queries (engine-shaped), with split = test for every third query."""
    out: list[dict[str, Any]] = []
    for n, (qid, kind, profile, what, relevant, error, note) in enumerate(SPECS):
        q: dict[str, Any] = {"id": qid, "kind": kind, "profile": profile, "split": "test" if n % 3 == 2 else "dev"}
        if kind == "text":
            q.update(op_class="", syntactic_text=what, semantic={"text": what})
        else:
            wl = workloads.workload(what)
            semantic = {"op_class": wl.op_class, "dtype": wl.dtype, **workloads.bottleneck(what, profile)}
            semantic = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in semantic.items()}
            if error is not None:  # HawkEngine._query
                semantic.update({"error_kind": error["kind"],
                                 **{k: v for k, v in error["context"].items() if k in ("level", "code", "unit")}})
            q.update(workload=what, op_class=wl.op_class, syntactic_text=wl.syntactic_text(), semantic=semantic)
        if error is not None:
            q["error"] = error
        q["relevant"] = relevant
        if note:
            q["note"] = note
        out.append(q)
    return out


def main() -> None:
    """Write queries.yaml."""
    queries = build()
    head = ("# Labelled retrieval set: generated by make_queries.py (labels and operators are defined there).\n"
            f"# {len(queries)} queries; split: every third is held out as 'test'.\n")
    (HERE / "queries.yaml").write_text(head + yaml.safe_dump(queries, sort_keys=False, width=118))
    print(f"wrote {len(queries)} queries")


if __name__ == "__main__":
    main()
