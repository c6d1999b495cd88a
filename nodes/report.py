"""Motion Report: lip sync, mouth in silence, seams, head range and speed, blinks -- before rendering."""

from __future__ import annotations

from comfy_api.latest import io, ui

from . import types
from .convert import one_clip
from .runtime import intermediate_device


class MotionReport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return types.schema(
            "MotionReport", "Motion Report",
            description="Checks a motion in milliseconds, before any frame is rendered: lip-loudness "
                        "correlation and lag, how open the mouth is in silence, jumps at the generator's "
                        "window seams, the head's range and speed, blinks per minute. Shows a chart "
                        "(loudness against mouth opening, head angles, blinks over time).",
            inputs=[
                types.Motion.Input("motion"),
                io.Audio.Input("audio", optional=True,
                               tooltip="The speech the motion was made from; without it the lip-sync and "
                                       "silence numbers are left out."),
            ],
            outputs=[io.String.Output("report", display_name="report"),
                     io.Image.Output("chart", display_name="chart")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, motion, audio=None) -> io.NodeOutput:
        from joyvasa.audio import to_mono_16k
        from joyvasa.quality import motion_report, report_chart, report_text

        audio_16k = None if audio is None else to_mono_16k(*one_clip(audio))
        report = motion_report(motion, audio_16k)
        chart = report_chart(report)
        return io.NodeOutput(report_text(report), chart.to(intermediate_device()),
                             ui=ui.PreviewImage(chart, cls=cls))
