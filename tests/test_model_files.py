"""joyvasa.model_files: file names per network and mode, download plan, commands, cleanup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from joyvasa import model_files as mf

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a liveportrait folder holds after both repositories were downloaded into it (+ extras).
FOLDER_LISTING = [
    "liveportrait/base_models/appearance_feature_extractor.pth",
    "liveportrait/base_models/motion_extractor.pth",
    "liveportrait/base_models/warping_module.pth",
    "liveportrait/base_models/spade_generator.pth",
    "liveportrait/retargeting_models/stitching_retargeting_module.pth",
    "liveportrait_animals/base_models_v1.1/warping_module.pth",
    "liveportrait_animals/retargeting_models/stitching_retargeting_module.pth",
    "warping_module.safetensors",
    "animal/warping_module.safetensors",
    "appearance_feature_extractor.safetensors",
    "landmark_model.pth",
]


def test_each_slot_offers_only_its_own_files_human_and_animal():
    assert mf.slot_choices("warping_module", FOLDER_LISTING) == [
        "animal/warping_module.safetensors",
        "liveportrait/base_models/warping_module.pth",
        "liveportrait_animals/base_models_v1.1/warping_module.pth",
        "warping_module.safetensors",
    ]
    assert mf.slot_choices("motion_extractor", FOLDER_LISTING) == ["liveportrait/base_models/motion_extractor.pth"]
    assert len(mf.slot_choices("stitching_retargeting_module", FOLDER_LISTING)) == 2
    offered = {name for network in mf.LIVEPORTRAIT_NETWORKS for name in mf.slot_choices(network, FOLDER_LISTING)}
    assert offered == set(FOLDER_LISTING) - {"landmark_model.pth"}


def test_mode_is_read_from_the_folder_names():
    assert mf.mode_from_name("liveportrait_animals/base_models_v1.1/warping_module.pth") == "animal"
    assert mf.mode_from_name("animal/warping_module.safetensors") == "animal"
    assert mf.mode_from_name("liveportrait/base_models/warping_module.pth") == "human"
    assert mf.mode_from_name("warping_module.safetensors") is None


def test_a_picked_file_of_the_wrong_network_or_mode_is_refused():
    mf.check_slot_choice("warping_module", "human", "warping_module.safetensors")
    mf.check_slot_choice("warping_module", "animal", "animal/warping_module.safetensors")
    # Upstream animates animals with the human stitching module.
    mf.check_slot_choice("stitching_retargeting_module", "animal",
                         "liveportrait/retargeting_models/stitching_retargeting_module.pth")
    with pytest.raises(ValueError, match="warping_module: 'animal/warping_module.safetensors' is animal weights"):
        mf.check_slot_choice("warping_module", "human", "animal/warping_module.safetensors")
    with pytest.raises(ValueError, match="spade_generator: 'warping_module.pth' is not named as spade_generator"):
        mf.check_slot_choice("spade_generator", "human", "warping_module.pth")


def test_download_plan_follows_each_repository_layout():
    official = [i.filename for i in mf.download_plan(["human", "animal"], mf.OFFICIAL_REPO)]
    assert official.count("liveportrait/retargeting_models/stitching_retargeting_module.pth") == 1
    assert "liveportrait_animals/base_models_v1.1/spade_generator.pth" in official
    assert len(official) == 5 + 4 + 2
    kijai = mf.download_plan(["animal"], mf.KIJAI_REPO, joyvasa=False)
    assert [i.filename for i in kijai] == [f"animal/{n}.safetensors" for n in mf.LIVEPORTRAIT_NETWORKS]
    assert {i.folder for i in kijai} == {"liveportrait"}
    with pytest.raises(ValueError, match="download source 'me/mine'"):
        mf.repo_file("me/mine", "warping_module", "human")


def test_one_spelling_of_the_download_command_everywhere():
    from importlib.metadata import entry_points

    assert "hf" in {ep.name for ep in entry_points(group="console_scripts") if ep.value.startswith("huggingface_hub")}
    assert mf.download_command_joyvasa("/m/joyvasa") == (
        'hf download jdh-algo/JoyVASA motion_generator/motion_generator_hubert_chinese.pt '
        'motion_template/motion_template.pkl --local-dir "/m/joyvasa"')
    assert mf.download_command_liveportrait("animal", "/m/lp") == (
        "hf download KwaiVGI/LivePortrait --include 'liveportrait_animals/base_models_v1.1/*' "
        "'liveportrait/retargeting_models/*' --local-dir \"/m/lp\"")
    for path in [REPO_ROOT / "README.md", REPO_ROOT / "install.py", *REPO_ROOT.glob("web/docs/*.md"), *REPO_ROOT.glob("docs/*.md"),
                 *REPO_ROOT.glob("joyvasa/**/*.py"), *REPO_ROOT.glob("nodes/*.py")]:
        assert "huggingface-cli" not in path.read_text(), path


def test_the_library_module_needs_neither_comfyui_nor_torch():
    import subprocess

    code = ("import sys; import joyvasa.model_files, joyvasa.downloads; "
            "print(sorted(m for m in ('torch', 'folder_paths', 'comfy', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
