"""HardwareProfile loading, validation errors, program facts and summaries."""

import copy
import json

import pytest

from hawk_tvm.hardware import ProfileError, list_profiles, load_profile, profile_from_dict
from hawk_tvm.hardware.profile import PROFILE_DIR


def _davinci_doc() -> dict:
    return json.loads((PROFILE_DIR / "davinci.json").read_text())


def test_shipped_profiles_load():
    assert {"davinci", "edge", "host"} <= set(list_profiles())
    dav, edge, host = load_profile("davinci"), load_profile("edge"), load_profile("host")
    assert dav.is_npu and edge.is_npu and not host.is_npu
    assert dav.cores == 32 and edge.cores == 1 and host.cores == 2
    assert dav.level("local.l0a").alignment_bytes == 512
    assert dav.path("shared.l1", "local.l0a").mover == "MTE1"
    assert dav.path("local.l0a", "global.ub") is None
    assert dav.sources and dav.modelling_choices and edge.modelling_choices
    # knowledge for one is visibly wrong for the other
    assert edge.level("shared.l1") is None
    assert dav.matrix.tile_for("int8").k == 32 and edge.matrix.tile_for("int8").k == 8
    assert edge.matrix.tile_for("float32") is None


def test_load_by_path(tmp_path):
    path = tmp_path / "mine.json"
    doc = _davinci_doc()
    doc["name"] = "mine"
    path.write_text(json.dumps(doc))
    assert load_profile(str(path)).name == "mine"


def test_peak_matches_public_figure():
    dav = load_profile("davinci")
    flops = dav.peak_macs_per_cycle("float16") * 2 * dav.cores * dav.clock_hz
    assert flops == pytest.approx(256e12, rel=0.03)  # Ascend 910: 256 TFLOPS fp16


def test_program_facts():
    dav = load_profile("davinci")
    f = dav.program_facts("float16")
    assert (f["mma_m"], f["mma_n"], f["mma_k"]) == (16, 16, 16)
    assert f["lanes"] == 128 and f["vector_bytes"] == 256 and f["cores"] == 32
    assert f["scope_l0a"] == "local.l0a" and f["scope_l1"] == "shared.l1" and f["scope_ub"] == "global.ub"
    assert f["cap_l0a"] == 65536 and f["align_l0a"] == 512
    assert f["intrin_mma"] == "hawk.davinci.mma.float16.float32"
    assert dav.program_facts("int8")["mma_k"] == 32
    edge = load_profile("edge").program_facts("int8")
    assert (edge["mma_m"], edge["mma_k"]) == (8, 8) and "scope_l1" not in edge
    host = load_profile("host").program_facts("float32")
    assert host["lanes"] == 8 and "mma_m" not in host


def test_summary_mentions_units():
    text = load_profile("davinci").summary()
    assert "local.l0a" in text and "16x16x16" in text and len(text.splitlines()) <= 10


def _error(doc) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        profile_from_dict(doc, file="bad.json")
    return info.value


def test_missing_field():
    doc = _davinci_doc()
    del doc["memory"][2]["capacity_bytes"]
    err = _error(doc)
    assert err.file == "bad.json" and err.field == "memory[2].capacity_bytes" and "missing" in str(err)


def test_bad_scope_string():
    doc = _davinci_doc()
    doc["memory"][1]["scope"] = "L1"
    err = _error(doc)
    assert err.field == "memory[1].scope" and "<rank>" in str(err)


def test_negative_capacity():
    doc = _davinci_doc()
    doc["memory"][3]["capacity_bytes"] = -5
    err = _error(doc)
    assert err.field == "memory[3].capacity_bytes" and "positive" in str(err)
    assert err.to_hawk_error().context == {"file": "bad.json", "field": "memory[3].capacity_bytes"}


def test_other_validation_errors():
    doc = copy.deepcopy(_davinci_doc())
    doc["paths"][0]["dst"] = "local.nowhere"
    assert _error(doc).field == "paths[0].dst"
    doc = _davinci_doc()
    doc["memory"][1]["alignment_bytes"] = 48
    assert _error(doc).field == "memory[1].alignment_bytes"
    doc = _davinci_doc()
    doc["kind"] = "gpu"
    assert _error(doc).field == "kind"
    doc = _davinci_doc()
    doc["units"]["matrix"]["operand_levels"]["a"] = "local.l0x"
    assert _error(doc).field == "units.matrix.operand_levels.a"


def test_unknown_profile_name():
    with pytest.raises(ProfileError):
        load_profile("no-such-profile")
