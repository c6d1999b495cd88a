"""MPS has no float64 and no numpy view: every float64 or numpy conversion happens on the CPU.

Two checks: a static scan of joyvasa/ and nodes/ (every ``.double()``, ``.numpy()``,
``.to(torch.float64)`` and float64 tensor factory is on a tensor that is visibly on the CPU),
and a runtime run of the functions that convert, on a fake device whose tensors refuse float64
and numpy until ``.cpu()`` is called (as MPS tensors do).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("joyvasa", "nodes")
FLOAT64_NAMES = {"float64", "double"}
FACTORIES = {"tensor", "arange", "linspace", "zeros", "ones", "empty", "full", "rand", "randn", "eye", "from_numpy"}


# -- the static scan ----------------------------------------------------------------------

def _is_float64(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in FLOAT64_NAMES and getattr(node.value, "id", "") == "torch"


def _method_call(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name


def _torch_factory_on_cpu(node: ast.AST) -> bool:
    """torch.tensor(...), torch.arange(...), ... without a device: made on the CPU."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and getattr(node.func.value, "id", "") in ("torch", "np", "numpy") and node.func.attr in FACTORIES):
        return False
    return all(keyword.arg != "device" for keyword in node.keywords) or getattr(node.func.value, "id", "") != "torch"


def _root_name(node: ast.AST) -> str | None:
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.BinOp):
            node = node.left
        else:
            return None


def _visibly_cpu(node: ast.AST) -> bool:
    return any(_method_call(inner, "cpu") or _torch_factory_on_cpu(inner) for inner in ast.walk(node))


def _on_cpu(node: ast.AST, assignments: dict, seen: frozenset = frozenset()) -> bool:
    """The expression visibly lives on the CPU: it calls .cpu(), is a device-less factory, is a
    torch function of such a tensor, or its root name was assigned (in the same function) only
    from such expressions."""
    if _visibly_cpu(node):
        return True
    name = _root_name(node)
    if isinstance(node, ast.Call) and node.args and name in ("torch", "F"):
        return _on_cpu(node.args[0], assignments, seen)  # torch.nn.functional.pad(x, ...) is where x is
    if name in seen or name not in assignments:
        return False
    # x = f(x) keeps x where it was: x's other assignments decide (none: a parameter, unknown).
    others = [value for value in assignments[name] if _visibly_cpu(value)
              or name not in {inner.id for inner in ast.walk(value) if isinstance(inner, ast.Name)}]
    return bool(others) and all(_on_cpu(value, assignments, seen | {name}) for value in others)


def _assignments(function: ast.AST) -> dict:
    out: dict[str, list] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            targets = [t for target in node.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            values = node.value.elts if isinstance(node.value, ast.Tuple) and len(node.value.elts) == len(targets) \
                else [node.value] * len(targets)
            for target, value in zip(targets, values):
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(value)
    return out


def _conversions(tree: ast.AST):
    """(node, receiver, what) for each float64 / numpy conversion and float64 factory."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        attr, receiver = node.func.attr, node.func.value
        if attr in ("double", "numpy") and not node.args:
            yield node, receiver, f".{attr}()"
        elif attr in ("to", "type") and any(_is_float64(a) for a in node.args + [k.value for k in node.keywords]):
            yield node, receiver, f".{attr}(torch.float64)"
        elif any(k.arg == "dtype" and _is_float64(k.value) for k in node.keywords):
            if getattr(receiver, "id", "") == "torch":
                if any(k.arg == "device" for k in node.keywords):
                    yield node, ast.Constant(None), f"torch.{attr}(dtype=torch.float64, device=...)"
            elif attr.startswith("new_"):
                yield node, receiver, f".{attr}(dtype=torch.float64)"


def unsafe_conversions(source: str, filename: str = "<source>") -> list[str]:
    """'file:line what' for each float64 / numpy conversion not visibly on the CPU."""
    tree = ast.parse(source, filename)
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    found = []
    for node, receiver, what in _conversions(tree):
        scope = min((s for s in scopes if s.lineno <= node.lineno <= (s.end_lineno or s.lineno)),
                    key=lambda s: (s.end_lineno or s.lineno) - s.lineno, default=tree)
        if not _on_cpu(receiver, _assignments(scope)):
            found.append(f"{filename}:{node.lineno} {what}")
    return found


def test_every_float64_and_numpy_conversion_in_the_pack_is_on_the_cpu():
    found = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            found += unsafe_conversions(path.read_text(), str(path.relative_to(REPO)))
    assert not found, "convert on the CPU (x.cpu().double(), x.cpu().numpy()); MPS has no float64:\n" + "\n".join(found)


@pytest.mark.parametrize("line", [
    "def f(x):\n    return x.double().cpu()\n",
    "def f(points):\n    points = points.detach()[0]\n    return points.double().cpu().numpy()\n",
    "def f(x):\n    return x.detach().numpy()\n",
    "def f(x):\n    return x.to(torch.float64)\n",
    "def f(x):\n    return x.to(dtype=torch.double).cpu()\n",
    "def f(x):\n    return torch.zeros(3, dtype=torch.float64, device=x.device)\n",
    "def f(x):\n    return x.new_zeros(1, dtype=torch.float64)\n",
])
def test_the_scan_catches_a_conversion_before_cpu(line):
    assert unsafe_conversions(line), line


@pytest.mark.parametrize("line", [
    "def f(x):\n    return x.cpu().double()\n",
    "def f(x):\n    return x.detach().cpu().numpy()\n",
    "def f(x):\n    y = x.detach().cpu()\n    return y.numpy()\n",
    "def f(n):\n    e = torch.tensor([1, 2])\n    return (e[1:] - e[:-1]).double()\n",
    "def f(n):\n    return torch.arange(n, dtype=torch.float64)\n",
])
def test_the_scan_passes_a_conversion_on_the_cpu(line):
    assert not unsafe_conversions(line), line


# -- the runtime check on a fake device ---------------------------------------------------

class FakeMpsTensor(torch.Tensor):
    """A tensor on a pretend device without float64 or numpy: ``.cpu()`` gives a plain tensor."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        wants_float64 = any(a in (torch.float64,) for a in list(args[1:]) + list(kwargs.values()))
        if func is torch.Tensor.double or (func in (torch.Tensor.to, torch.Tensor.type) and wants_float64):
            raise TypeError("Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64.")
        if func is torch.Tensor.numpy:
            raise TypeError("can't convert mps:0 device type tensor to numpy. Use Tensor.cpu() first.")
        if func is torch.Tensor.cpu:
            with torch._C.DisableTorchFunctionSubclass():
                return args[0].detach().clone()
        return super().__torch_function__(func, types, args, kwargs)


def on_fake_mps(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.float().as_subclass(FakeMpsTensor)


def test_the_fake_device_refuses_float64_before_cpu():
    x = on_fake_mps(torch.ones(3))
    with pytest.raises(TypeError):
        x.double()
    with pytest.raises(TypeError):
        x.numpy()
    assert x.cpu().double().numpy().dtype.name == "float64"


def test_expression_friendly_scaling_runs_on_a_device_without_float64():
    pytest.importorskip("scipy")
    from joyvasa.liveportrait.keypoints import expression_friendly_multiplier

    generator = torch.Generator().manual_seed(0)
    source, driving = (torch.randn(1, 21, 3, generator=generator) for _ in range(2))
    expected = expression_friendly_multiplier(source, driving)
    assert expression_friendly_multiplier(on_fake_mps(source), on_fake_mps(driving)) == pytest.approx(expected)


def test_two_way_smoothing_runs_on_a_device_without_float64():
    pytest.importorskip("scipy")
    from joyvasa.motion.controls import smooth_both_ways

    values = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    expected = smooth_both_ways(values, 0.5)
    torch.testing.assert_close(smooth_both_ways(on_fake_mps(values), 0.5).as_subclass(torch.Tensor), expected)


def test_template_statistics_run_on_a_device_without_float64():
    from joyvasa.motion.motion import Motion
    from joyvasa.motion.template import MotionTemplate

    generator = torch.Generator().manual_seed(2)
    n = 12
    parts = {"exp": (n, 21, 3), "scale": (n, 1), "t": (n, 3), "pitch": (n, 1), "yaw": (n, 1), "roll": (n, 1)}
    plain = {name: torch.randn(shape, generator=generator) for name, shape in parts.items()}
    expected = MotionTemplate.from_motions([Motion(**plain)])
    fake = MotionTemplate.from_motions([Motion(**{name: on_fake_mps(v) for name, v in plain.items()})])
    for key, value in expected.as_numpy().items():
        torch.testing.assert_close(torch.from_numpy(fake.as_numpy()[key]), torch.from_numpy(value))
