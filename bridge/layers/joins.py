"""Graph layers: ``:concatenate``, ``:split`` and ``:join`` (cortex-spec §1.11,
``layers.clj:602-686``). They need ``:parents`` to be useful::

    (concatenate :parents [:left :right])
    (join :parents [:a :b :c] :operation :*)
    (split :id :fork)

``:concatenate`` (one or more parents): the flattened parents, one after the other in
``:parents`` order (not description order). Shape: ``(1, 1, Σ sizes)``, always flat.

``:split`` (one parent): its input, unchanged, for every child. Shape: the input's.
Cortex copies the input once per child and sums the children's gradients; one shared
tensor does both here (autograd sums the gradients). Cortex runs it in training only and
lets children read the parent directly otherwise; a pass-through is the same thing.

``:join`` (one or more parents): ``:operation :+`` (default) or ``:*``, element-wise over
the flattened parents. Shape: the parents' common shape when they all agree; otherwise
flat, ``(1, 1, max size)``. ``:+`` pads each input with zeros to that width and adds
(input i lands in the first size_i columns); ``:*`` multiplies over the first min-size
columns and leaves the columns after them 0 (``compute/nn/layers.clj:557-609``). With
widths 3, 4 and 5 the output has 5 columns: ``:+`` sums three, three, three, two and one
of the inputs in them; ``:*`` fills three and leaves two zeros.

Cortex allows at most one child for concatenate and join; we allow any number (reading
one output twice is harmless). No parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bridge.description.constructors import CallForm
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword
from bridge.layers._checks import keyword_name, one_of
from bridge.layers.registry import LayerSpec, register

__all__ = ["Concatenate", "Split", "Join", "CONCATENATE", "SPLIT", "JOIN", "JOIN_OPERATIONS"]

JOIN_OPERATIONS = ("+", "*")


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


class Concatenate(nn.Module):
    """The flattened inputs side by side, in ``:parents`` order."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """**Arguments:** the parents' outputs, ``N`` first, any shape.
        **Returns:** ``[N, Σ sizes]``."""
        return torch.cat([_flat(x) for x in inputs], dim=1)


class Split(nn.Module):
    """The input, unchanged, for every child."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Join(nn.Module):
    """Element-wise sum or product of the inputs, padded or cut to Cortex's widths."""

    def __init__(self, operation: str, sizes: tuple[int, ...]):
        """**Arguments:**

        - operation: ``"+"`` or ``"*"``.
        - sizes: each parent's values per sample, in ``:parents`` order.
        """
        super().__init__()
        if operation not in JOIN_OPERATIONS:
            raise ValueError(f"operation must be + or *; got {operation!r}")
        self.operation = operation
        self.sizes = tuple(sizes)
        self.width = max(self.sizes)
        self.common = min(self.sizes)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """**Arguments:** the parents' outputs, ``N`` first. **Returns:** ``[N, max size]``."""
        flats = [_flat(x) for x in inputs]
        if self.operation == "+":
            total = F.pad(flats[0], (0, self.width - flats[0].shape[1]))
            for flat in flats[1:]:  # zero-padded sum (spec §1.11)
                total = total + F.pad(flat, (0, self.width - flat.shape[1]))
            return total
        product = flats[0][:, : self.common]
        for flat in flats[1:]:  # product over the first min-size columns, then zeros
            product = product * flat[:, : self.common]
        return F.pad(product, (0, self.width - self.common))

    def extra_repr(self) -> str:
        text = "" if self.operation == "+" else "operation=*, "
        return text + "sizes=[" + " ".join(str(size) for size in self.sizes) + "]"


def join_shape(node, input_shapes) -> Shape:
    if all(shape == input_shapes[0] for shape in input_shapes):
        return input_shapes[0]
    return Shape.flat(max(shape.size for shape in input_shapes))


CONCATENATE = register(
    LayerSpec(
        "concatenate",
        flat_ok=True,
        infer_shape=lambda node, shapes: Shape.flat(sum(shape.size for shape in shapes)),
        build=lambda ctx: Concatenate(),
        parents=(1, None),
        call_forms=(CallForm("concatenate", examples=("(concatenate)",
                                                      "(concatenate :parents [:a :b] :id :c)")),),
    )
)

SPLIT = register(
    LayerSpec(
        "split",
        flat_ok=True,
        infer_shape=lambda node, shapes: shapes[0],
        build=lambda ctx: Split(),
    )
)

def build_join(ctx) -> Join:
    operation = keyword_name(ctx.node["operation"])
    assert operation is not None  # validate (one_of JOIN_OPERATIONS) ran while planning
    return Join(operation, tuple(shape.size for shape in ctx.input_shapes))


JOIN = register(
    LayerSpec(
        "join",
        flat_ok=True,
        infer_shape=join_shape,
        build=build_join,
        parents=(1, None),
        defaults={"operation": Keyword("+")},
        call_forms=(CallForm("join",
                             examples=("(join)", "(join :parents [:a :b] :operation :*)")),),
        validate=lambda node: one_of(node, "operation", JOIN_OPERATIONS),
    )
)
