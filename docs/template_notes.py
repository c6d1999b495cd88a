"""The words on the templates' canvas: one "Start here" note, one models note and one speed note each.

docs/template_canvas.py puts them on the canvas (MarkdownNote nodes); docs/templates.md quotes them.
Times: the 2-core development CPU, fp32 (the performance figures: about 7.5 s per 512x512 frame, and the
command line's own run of the example speech: 67 frames in 8:01). No GPU has been measured.
"""

from __future__ import annotations

ALL_IN_ONE = "JoyVASA - talking portrait (all in one)"
STAGED = "JoyVASA - talking portrait, long clips (staged)"
ANIMAL = "JoyVASA - talking cat (animal)"
FROM_VIDEO = "JoyVASA - portrait moved by a video"
DIALOGUE = "JoyVASA - two speakers (dialogue)"
DUB = "JoyVASA - dub a video (lips only)"
TEMPLATES = (ALL_IN_ONE, STAGED, ANIMAL, FROM_VIDEO, DIALOGUE, DUB)

GPU_TIME = "**GPU:** not measured yet."

_LIVEPORTRAIT = {
    "human": "- **LivePortrait (human)**, from `KwaiVGI/LivePortrait`: the four networks of "
             "`liveportrait/base_models/` and `liveportrait/retargeting_models/stitching_retargeting_module.pth`, "
             "into `models/liveportrait/`.",
    "animal": "- **LivePortrait (animal)**, from `KwaiVGI/LivePortrait`: the four networks of "
              "`liveportrait_animals/base_models_v1.1/` and the human `stitching_retargeting_module.pth` "
              "(upstream uses it for animals too), into `models/liveportrait/`.",
}
_JOYVASA = ("- **JoyVASA motion generator** (`motion_generator_hubert_chinese.pt`, its speech encoder is inside) "
            "and the **motion template** (`motion_template.pkl`), from `jdh-algo/JoyVASA`, into `models/joyvasa/`.")


def models_note(kind: str = "human", motion: bool = True) -> str:
    loaders = "*Load LivePortrait* and *Load Motion Generator* fetch" if motion else "*Load LivePortrait* fetches"
    lines = [
        "## Models: fetched on first use",
        "",
        "This template needs:",
        "",
        _LIVEPORTRAIT[kind],
    ]
    if motion:
        lines.append(_JOYVASA)
    lines += [
        "",
        f"{loaders} the files that are missing from Hugging Face the first time you press **Run** "
        "(progress in the bar; the `download` widget names the repository, `off` uses only files "
        "already there). Leave the file lists on `auto`.",
        "",
        "Offline? The error names the `hf download` command to run; or run "
        "`python install.py --download-models` in the pack's folder.",
    ]
    if kind == "animal":
        lines[-1] = ("Offline? The error names the `hf download` command to run; or run "
                     "`python install.py --download-models --animal` in the pack's folder.")
    return "\n".join(lines)


def _cpu(frames: str, minutes: str, extra: str = "") -> str:
    return (f"**CPU:** about {minutes} minutes for the example ({frames}) on a 2-core CPU in fp32, about "
            "7.5 s a frame, so about 3 minutes per second of video; `precision: bf16` on *Load LivePortrait* "
            f"roughly halves it.{extra} {GPU_TIME}")


START = {
    ALL_IN_ONE: f"""# Talking portrait, all in one node

One photo + one speech clip -> a talking-head video with the speech (`output/video/JoyVASA_*.mp4`).

**Change first:** in **Inputs**, pick your portrait in *Load Image* (one face, roughly facing the camera)
and your speech in *Load Audio* (the video takes the speech's length). Then press **Run**.

**The groups**
- **Inputs**: the photo and the speech.
- **Models**: LivePortrait draws the face, the JoyVASA generator turns speech into motion (see its note).
- **Motion + Render**: *JoyVASA Animate* does every stage in one node; `preset` sets the look, `fps` the frame rate.
- **Output**: *Create Video* and *Save Video* join the frames and the speech into an .mp4.

{_cpu("2.7 s of speech, 67 frames at 25 fps", "8")}
""",
    STAGED: f"""# Talking portrait, long clips (staged)

The same talking head as the all-in-one template, one stage per node: crop check, motion, motion edits,
a fast motion preview with a report, and a render that streams into the .mp4 (a minute-long clip stays
within about 2 GB of memory).

**Change first:** in **Inputs**, your portrait (*Load Image*) and your speech (*Load Audio*). In **Motion**,
*Edit Motion* calms the head and adds blinks: change its sliders to taste.

**The groups**
- **Inputs**: the photo and the speech.
- **Models**: LivePortrait and the JoyVASA generator (see its note).
- **Face crop**: *Extract Source* finds the face; the preview shows the crop the render will use.
- **Motion**: *Encode Audio* -> *Sample Motion* -> *Edit Motion*; *Save Motion* keeps it (`output/joyvasa/`).
- **Preview**: *Preview Motion* draws the motion as keypoints in milliseconds a frame; *Motion Report*
  measures lip sync, head speed and blinks.
- **Render**: *Render To Video* writes `output/video/JoyVASA_staged_*.mp4` batch by batch.

{_cpu("2.7 s of speech, 67 frames at 25 fps", "8", " The preview takes seconds.")}
""",
    ANIMAL: f"""# Talking cat (animal weights)

A cat's (or dog's) photo + speech -> a talking animal. It uses LivePortrait's **animal** weights,
with `stitching` off on the render, as upstream recommends for animals.

**Change first:** in **Inputs**, your animal photo (*Load Image*) and your speech (*Load Audio*).
*Extract Source* uses the picture as it is (`detector: none`): crop your photo around the head first,
or set `detector` to `cat` for a cat face in a larger picture.

**The groups**
- **Inputs**: the photo and the speech.
- **Models**: LivePortrait with `kind: animal`, and the JoyVASA generator (see its note).
- **Face crop**: *Extract Source* and a preview of the crop.
- **Motion**: *Encode Audio* -> *Sample Motion*: the motion from the speech.
- **Render**: *Render To Video* writes `output/video/JoyVASA_cat_*.mp4` with the speech.

{_cpu("2.7 s of speech, 67 frames at 25 fps", "8")}
""",
    FROM_VIDEO: f"""# Portrait moved by a video

A photo + a driving video of a face -> the photo moves like the video (head, eyes, mouth). No speech
model: the motion is read from the video, so the output is silent.

**Change first:** in **Inputs**, your portrait (*Load Image*) and the driving video (*Load Video*: one
face, any length).

**The groups**
- **Inputs**: the photo and the driving video.
- **Models**: LivePortrait only (see its note).
- **Motion**: *Extract Source* crops the photo; *Extract Motion From Video* follows the video's face
  (`crop: shot` keeps one crop per shot).
- **Render**: *Render To Video* writes `output/video/JoyVASA_from_video_*.mp4`.

{_cpu("1.2 s of video, 30 frames at 25 fps", "4")}
""",
    DIALOGUE: f"""# Two speakers (dialogue)

One photo with two faces + two voices -> both faces talk, taking turns. Face 0 speaks voice A, face 1
voice B; the second render is pasted onto the first one's frames and voice A is mixed in.

**Change first:** in **Inputs**, a photo with two faces (*Load Image*) and the two voices (*Load Audio*
A and B, the same length: silence where the other speaks).

**The groups**
- **Inputs**: the photo and the two voices.
- **Models**: LivePortrait and the JoyVASA generator (see its note).
- **Speaker A** and **Speaker B**: each crops its face (`face_index` 0 and 1), encodes its voice and
  samples its motion.
- **Render**: *Render* draws face 0; *Render To Video* draws face 1 onto those frames and writes
  `output/video/JoyVASA_dialogue_*.mp4` with both voices.

{_cpu("2.3 s of speech, twice 58 frames at 25 fps", "15")}
""",
    DUB: f"""# Dub a video (lips only)

A talking-head video + new speech -> the same video, its lips moved by the new speech; the head, eyes
and expression stay the video's own. The output has the speech's length (a short video loops).

**Change first:** in **Inputs**, your video (*Load Video*) and the new speech (*Load Audio*).

**The groups**
- **Inputs**: the video and the new speech.
- **Models**: LivePortrait and the JoyVASA generator (see its note).
- **Motion**: *Encode Audio* -> *Sample Motion*: the lip motion of the new speech.
- **Render**: *Dub Video* tracks the face in every frame, replaces the lips (`mouth: replace`) and
  streams `output/video/JoyVASA_dub_*.mp4`; its `report` counts frames without a face.

{_cpu("2.7 s of speech, 67 frames at 25 fps", "11", " Dubbing costs about 1.3x a still render per frame.")}
""",
}



def _preview_fast(where: str, frames: int = 67) -> str:
    return (f"Lower `fps` {where} (for example 5) for a quick look: frames = fps x seconds, so the example "
            f"renders {round(frames / 5)} frames instead of {frames}. Set it back before the real render.")
_DDIM = "`sampler: ddim` with `steps: 10` samples the motion faster (slightly different motion)."

SPEED = {
    ALL_IN_ONE: f"""## Preview the motion before a long render

A CPU renders about one frame every 7 seconds. {_preview_fast('on *Animate*')}

For clips longer than a few seconds use the *long clips (staged)* template: its *Preview Motion*
shows the motion in seconds, before any frame is rendered.

{_DDIM}""",
    STAGED: f"""## Preview the motion before a long render

Run once with *Render To Video* bypassed (select it, Ctrl+B): the **Preview** group shows the motion
as keypoints over the crop in seconds, and the report says how well the lips follow the speech.
Happy? Un-bypass it and run again: the motion is cached, only the render runs.

{_DDIM}""",
    ANIMAL: f"""## Preview the motion before a long render

Check the crop preview first (the head should fill it). {_preview_fast('on *Encode Audio*')}

{_DDIM}""",
    FROM_VIDEO: """## Preview the motion before a long render

Lower `fps` on *Extract Motion From Video* (for example 5) for a quick look at the movement: the
example renders 6 frames instead of 30. Set it back before the real render.""",
    DIALOGUE: f"""## Preview the motion before a long render

Two faces are two renders: about twice the time of one. `face_index` 0 is the largest face, 1 the
next one. {_preview_fast('on both *Encode Audio* nodes', 58)}

{_DDIM}""",
    DUB: f"""## Preview the motion before a long render

Dubbing runs the face extractors on every video frame besides the render. {_preview_fast('on *Encode Audio*')}

{_DDIM}""",
}
