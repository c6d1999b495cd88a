"""A stage's models go through ComfyUI's real model management (0.3.75, in this process, CPU mode):
loaded together by one ``load_models_gpu`` call with the batch's activation memory, given back by
what ``POST /free`` runs, and ``frames_per_batch`` auto sized from the free memory ComfyUI reports."""

from __future__ import annotations

import gc
import logging

import pytest
import torch

from joyvasa.runtime.memory import AUTO_FRAMES_MAX, MOTION_STAGE_BYTES, frames_for_free_memory, render_frame_bytes
from joyvasa.runtime.memory import stage_memory_required
from tests.test_nodes_contract import pack  # noqa: F401  (the fixture: ComfyUI and the pack in this process)

GIB = 2 ** 30


def _managed(pack, label, renders, device=torch.device("cpu"), dtype=torch.float32):
    from joyvasa_comfy_pack.nodes.models import manage

    networks = torch.nn.ModuleDict({"net": torch.nn.Linear(8, 8)})
    return manage(f"the {label}", networks, label, device, torch.device("cpu"), dtype, {}, renders=renders)


@pytest.fixture
def load_calls(pack, monkeypatch):  # noqa: F811
    """Every load_models_gpu call (patchers, keywords), passed on to ComfyUI's real one."""
    import comfy.model_management as mm

    calls, real = [], mm.load_models_gpu

    def spy(models, *args, **kwargs):
        calls.append((list(models), kwargs))
        return real(models, *args, **kwargs)

    monkeypatch.setattr(mm, "load_models_gpu", spy)
    mm.unload_all_models()
    yield calls
    mm.unload_all_models()


def test_a_stage_loads_all_its_models_in_one_call_with_its_activation_memory(pack, load_calls):  # noqa: F811
    import comfy.model_management as mm

    from joyvasa_comfy_pack.nodes.models import loads_models

    renderer, generator = _managed(pack, "LivePortrait", True), _managed(pack, "motion generator", False)
    seen = {}

    @loads_models
    def execute(cls, liveportrait, motion_generator, **values):
        seen.update(liveportrait=liveportrait, motion_generator=motion_generator, **values)
        return "done"

    assert execute(None, renderer, motion_generator=generator, frames_per_batch=3) == "done"
    assert seen == {"liveportrait": "the LivePortrait", "motion_generator": "the motion generator", "frames_per_batch": 3}
    assert len(load_calls) == 1, load_calls
    patchers, keywords = load_calls[0]
    assert set(map(id, patchers)) == {id(renderer.patcher), id(generator.patcher)}
    assert keywords["memory_required"] == 3 * render_frame_bytes(torch.float32) + MOTION_STAGE_BYTES
    assert keywords["force_full_load"] is True  # plain torch modules: whole, also under --lowvram / --novram
    loaded = [m.model for m in mm.current_loaded_models]
    assert any(m is renderer.patcher for m in loaded) and any(m is generator.patcher for m in loaded)


def test_free_takes_the_models_off_comfys_list_and_out_of_the_pack_cache(pack, load_calls, monkeypatch, caplog):  # noqa: F811
    import comfy.model_management as mm

    from joyvasa_comfy_pack.nodes import models

    monkeypatch.setattr(models, "return_freed_memory_soon", lambda: models._malloc_trim())
    cache = models.ModelCache()
    handles = [cache.get_or_load(("lp",), lambda: _managed(pack, "LivePortrait", True)),
               cache.get_or_load(("mg",), lambda: _managed(pack, "motion generator", False))]
    models.load_together(handles)
    patchers = [h.patcher for h in handles]
    assert len(cache) == 2 and all(any(m.model is p for m in mm.current_loaded_models) for p in patchers)

    # What POST /free runs: unload every model, drop the execution caches (here: our references), collect.
    with caplog.at_level(logging.INFO, logger="joyvasa"):
        mm.unload_all_models()
        del handles
        gc.collect()
    assert not any(m.model is p for m in mm.current_loaded_models for p in patchers)
    assert len(cache) == 0
    said = sorted(r.getMessage() for r in caplog.records)
    assert said == sorted([models.RELEASED_MESSAGE.format(label="LivePortrait"), models.RETURNED_MESSAGE,
                           models.RELEASED_MESSAGE.format(label="motion generator"), models.RETURNED_MESSAGE])


def test_auto_frames_per_batch_fits_the_free_memory_comfy_reports(pack, monkeypatch):  # noqa: F811
    """On a (pretend) GPU: the activations for AUTO_FRAMES_MAX frames are asked for, and what is free
    after loading decides the batch; short of memory the stage still runs with one frame per call."""
    import comfy.model_management as mm

    from joyvasa_comfy_pack.nodes.models import ready_stage

    calls = []
    monkeypatch.setattr(mm, "load_models_gpu", lambda models, **kwargs: calls.append(kwargs))
    renderer = _managed(pack, "LivePortrait", True, device=torch.device("cuda"), dtype=torch.bfloat16)
    generator = _managed(pack, "motion generator", False, device=torch.device("cuda"))
    for free, expected in ((64 * GIB, AUTO_FRAMES_MAX), (MOTION_STAGE_BYTES + 3 * render_frame_bytes(torch.bfloat16), 3),
                           (0, 1)):
        monkeypatch.setattr(mm, "get_free_memory", lambda device=None, torch_free_too=False, free=free: free)
        assert ready_stage([renderer, generator], {"frames_per_batch": 0})["frames_per_batch"] == expected
        assert calls[-1]["memory_required"] == stage_memory_required(
            render_frames=AUTO_FRAMES_MAX, render_dtype=torch.bfloat16, motion=True)
    assert ready_stage([renderer], {"frames_per_batch": 5}) == {"frames_per_batch": 5}  # asked: kept
    assert calls[-1]["memory_required"] == 5 * render_frame_bytes(torch.bfloat16)
    assert ready_stage([generator], {"steps": 50}) == {"steps": 50}
    assert calls[-1]["memory_required"] == MOTION_STAGE_BYTES


def test_auto_frames_on_a_cpu_stay_one():
    assert frames_for_free_memory(500 * GIB, torch.float32, "cpu") == 1
    assert frames_for_free_memory(500 * GIB, torch.float32, "cuda") == AUTO_FRAMES_MAX
    assert frames_for_free_memory(2 * render_frame_bytes(torch.float32), torch.float32, "mps") == 2


def test_the_gpu_checks_model_patcher_round_trip_runs_with_comfys_model_management(pack):  # noqa: F811
    """The GPU check's ModelPatcher part (skipped in its CPU smoke run, where ComfyUI is absent) on
    the CPU with ComfyUI's real model management."""
    from joyvasa.bench.gpu_checks import check_model_patcher
    from joyvasa.bench.synthetic import narrow_renderer

    [row] = check_model_patcher(torch.device("cpu"), narrow_renderer())
    assert (row.check, row.result, row.failed) == ("ModelPatcher", "pass", False), row
    assert "load" in row.note and "offload" in row.note
