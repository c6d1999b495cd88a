"""The JoyVASA nodes (ComfyUI V3 schema API) and the extension that lists them."""

from comfy_api.latest import ComfyExtension, io


class JoyVASAPlaceholder(io.ComfyNode):
    """Temporary: proves the pack loads in a real server while the nodes are written."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="JoyVASAPlaceholder",
            display_name="JoyVASA (placeholder)",
            category="JoyVASA",
            inputs=[io.Float.Input("value", default=1.0)],
            outputs=[io.Float.Output("doubled")],
        )

    @classmethod
    def execute(cls, value: float) -> io.NodeOutput:
        return io.NodeOutput(value * 2)


class JoyVASAExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [JoyVASAPlaceholder]


async def comfy_entrypoint() -> JoyVASAExtension:
    return JoyVASAExtension()
