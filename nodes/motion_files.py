"""Save Motion and Load Motion: generated motion as .safetensors files, to re-render later."""

from __future__ import annotations

import os

from comfy_api.latest import io

from . import types

MOTION_SUFFIX = ".safetensors"
MOTION_SUBFOLDER = "joyvasa"
NO_MOTION_FILES = "(no motion files yet)"


class SaveMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "SaveMotion", "Save Motion", menu="motion files",
            description="Saves generated motion to output/ as .safetensors, to re-render it later "
                        "with another portrait or settings.",
            inputs=[
                types.Motion.Input("motion"),
                io.String.Input("filename_prefix", default=f"{MOTION_SUBFOLDER}/motion",
                                tooltip="Path under ComfyUI's output folder; Load Motion lists files saved under joyvasa/."),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, filename_prefix) -> io.NodeOutput:
        import folder_paths

        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory()
        )
        os.makedirs(folder, exist_ok=True)
        name = f"{filename}_{counter:05}_{MOTION_SUFFIX}"
        motion.save(os.path.join(folder, name))
        return io.NodeOutput(ui={"motion": [{"filename": name, "subfolder": subfolder, "type": "output"}]})


class LoadMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "LoadMotion", "Load Motion", menu="motion files",
            description="Loads motion saved by Save Motion (from input/ or output/joyvasa).",
            inputs=[io.Combo.Input("motion_file", options=list_motion_files() or [NO_MOTION_FILES],
                                   tooltip="Files ending in .safetensors in input/, and those Save Motion "
                                           "wrote to output/joyvasa (marked [output]).")],
            outputs=[
                types.Motion.Output("motion", display_name="motion"),
                io.Float.Output("fps", display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, motion_file) -> io.NodeOutput:
        import folder_paths

        from joyvasa.motion import Motion

        motion = Motion.load(folder_paths.get_annotated_filepath(motion_file))
        return io.NodeOutput(motion, float(motion.fps))

    @classmethod
    def validate_inputs(cls, motion_file) -> bool | str:
        import folder_paths

        if motion_file == NO_MOTION_FILES:
            return ("There is no motion file yet: run a graph with JoyVASA Save Motion first (it writes "
                    "to output/joyvasa), or put a .safetensors motion file in input/, then press R.")
        if not folder_paths.exists_annotated_filepath(motion_file):
            return f"Motion file '{motion_file}' does not exist."
        return True

    @classmethod
    def fingerprint_inputs(cls, motion_file):
        import folder_paths

        try:
            stat = os.stat(folder_paths.get_annotated_filepath(motion_file))
        except OSError:
            return motion_file
        return f"{motion_file}:{stat.st_size}:{stat.st_mtime_ns}"


def list_motion_files() -> list[str]:
    import folder_paths

    names = []
    input_dir = folder_paths.get_input_directory()
    output_dir = folder_paths.get_output_directory()
    for base, tag in ((input_dir, ""), (os.path.join(output_dir, MOTION_SUBFOLDER), " [output]")):
        if not os.path.isdir(base):
            continue
        for dirpath, _dirs, filenames in os.walk(base):
            for name in filenames:
                if name.endswith(MOTION_SUFFIX):
                    relative = os.path.relpath(os.path.join(dirpath, name), input_dir if not tag else output_dir)
                    names.append(relative.replace(os.sep, "/") + tag)
    return sorted(names)
