"""Model specifications (JSON-serialisable) and factories: MLPs and a small CNN.

A :class:`ModelSpec` fully describes an architecture, so a checkpoint can rebuild its model
without pickled code. :func:`build` turns a spec into an ``nn.Module``; :func:`init_params`
draws a seeded initialisation as a params dict (the schemes the reproduced papers use).
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import Tensor, nn

from ._errors import LandscapeError, check_choice
from .params import Params

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "CNNSpec",
    "MLPSpec",
    "ModelSpec",
    "SmallCNN",
    "build",
    "init_params",
    "spec_from_dict",
]

Activation = Literal["relu", "sigmoid", "tanh", "quadratic", "linear"]


class Quadratic(nn.Module):
    """Elementwise square, the activation of quadratic networks."""

    def forward(self, x: Tensor) -> Tensor:
        return x * x


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "quadratic": Quadratic,
    "linear": nn.Identity,
}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MLPSpec(_Spec):
    """A fully connected network ``in → widths[0] → … → widths[-1] → out``.

    Attributes:
        in_features: input size (images are flattened).
        widths: hidden layer sizes (may be empty: a linear model).
        out_features: output size.
        activation: hidden activation.
        bias: whether every layer has a bias.
        output_activation: ``"none"`` or ``"sigmoid"`` on the output unit (Freeman & Bruna's
            bias-free quadratic-regression variant uses a sigmoid output).
    """

    kind: Literal["mlp"] = "mlp"
    in_features: int = Field(gt=0)
    widths: tuple[Annotated[int, Field(gt=0)], ...] = ()
    out_features: int = Field(gt=0)
    activation: Activation = "relu"
    bias: bool = True
    output_activation: Literal["none", "sigmoid"] = "none"

    def describe(self) -> str:
        sizes = "→".join(str(s) for s in (self.in_features, *self.widths, self.out_features))
        extra = "" if self.bias else ", no bias"
        if self.output_activation != "none":
            extra += f", {self.output_activation} output"
        return f"MLP {sizes} ({self.activation}{extra})"


class CNNSpec(_Spec):
    """A small CNN: ``[conv3×3 → act → maxpool2] × len(channels)`` → linear.

    Attributes:
        in_channels, image_size: input images are ``(in_channels, image_size, image_size)``;
            flat inputs of that many features are reshaped.
        channels: output channels of each conv block.
        out_features: number of classes.
    """

    kind: Literal["cnn"] = "cnn"
    in_channels: int = Field(default=1, gt=0)
    image_size: int = Field(gt=0)
    channels: tuple[Annotated[int, Field(gt=0)], ...] = (8, 16)
    out_features: int = Field(gt=0)
    activation: Activation = "relu"
    bias: bool = True

    @model_validator(mode="after")
    def _fits(self) -> CNNSpec:
        if self.image_size // (2 ** len(self.channels)) < 1:
            raise ValueError(
                f"image_size {self.image_size} is too small for {len(self.channels)} "
                "pooling stages (each halves it)"
            )
        return self

    def describe(self) -> str:
        ch = "-".join(str(c) for c in self.channels)
        return f"CNN {self.in_channels}×{self.image_size}² conv[{ch}] → {self.out_features}"


ModelSpec = Annotated[MLPSpec | CNNSpec, Field(discriminator="kind")]


def spec_from_dict(data: dict) -> MLPSpec | CNNSpec:
    """Validate a JSON dict into a spec.

    Raises:
        LandscapeError: unknown kind, unknown key or bad value (one line).
    """
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(ModelSpec).validate_python(data)
    except ValidationError as err:
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise LandscapeError(f"invalid model spec: {where}: {e['msg']}") from None


class MLP(nn.Module):
    """Module built from an :class:`MLPSpec`; parameters are ``layers.{i}.weight/bias``."""

    def __init__(self, spec: MLPSpec) -> None:
        super().__init__()
        self.spec = spec
        sizes = (spec.in_features, *spec.widths, spec.out_features)
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=spec.bias) for a, b in itertools.pairwise(sizes)
        )
        self.act = ACTIVATIONS[spec.activation]()
        self.out_act = nn.Sigmoid() if spec.output_activation == "sigmoid" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            h = self.act(layer(h))
        return self.out_act(self.layers[-1](h))


class SmallCNN(nn.Module):
    """Module built from a :class:`CNNSpec`."""

    def __init__(self, spec: CNNSpec) -> None:
        super().__init__()
        self.spec = spec
        blocks = []
        c_in = spec.in_channels
        for c in spec.channels:
            blocks += [
                nn.Conv2d(c_in, c, 3, padding=1, bias=spec.bias),
                ACTIVATIONS[spec.activation](),
                nn.MaxPool2d(2),
            ]
            c_in = c
        self.features = nn.Sequential(*blocks)
        side = spec.image_size // (2 ** len(spec.channels))
        self.head = nn.Linear(c_in * side * side, spec.out_features, bias=spec.bias)

    def forward(self, x: Tensor) -> Tensor:
        s = self.spec
        x = x.reshape(x.shape[0], s.in_channels, s.image_size, s.image_size)
        return self.head(self.features(x).flatten(1))


def build(
    spec: MLPSpec | CNNSpec | dict,
    seed: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build the module a spec describes, with PyTorch's default init under ``seed``."""
    if isinstance(spec, dict):
        spec = spec_from_dict(spec)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = _construct(spec)
    else:
        module = _construct(spec)
    return module.to(device=device, dtype=dtype)


def _construct(spec: MLPSpec | CNNSpec) -> nn.Module:
    if isinstance(spec, MLPSpec):
        return MLP(spec)
    if isinstance(spec, CNNSpec):
        return SmallCNN(spec)
    raise LandscapeError(f"spec must be an MLPSpec or CNNSpec, got {type(spec).__name__}")


InitScheme = Literal["default", "uniform", "normal", "zeros"]


def init_params(
    spec: MLPSpec | CNNSpec,
    seed: int,
    weight: InitScheme = "default",
    weight_scale: float = 1.0,
    bias: InitScheme = "default",
    bias_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Params:
    """A seeded initialisation of the model ``spec`` as a params dict.

    Schemes: ``"default"`` (PyTorch's layer init), ``"uniform"`` (U[−scale, scale]; the
    Choromanska et al. and Freeman & Bruna weights use scale 1), ``"normal"``
    (N(0, scale²); Freeman & Bruna's biases), ``"zeros"``.
    """
    for name, scheme in (("weight", weight), ("bias", bias)):
        check_choice(name, scheme, ("default", "uniform", "normal", "zeros"))
    module = build(spec, seed=seed, dtype=torch.float64)
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    out: Params = {}
    for name, p in module.named_parameters():
        is_w = p.dim() >= 2
        scheme, s = (weight, weight_scale) if is_w else (bias, bias_scale)
        value = p.detach().clone()
        if scheme == "uniform":
            value = (torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 - 1) * s
        elif scheme == "normal":
            value = torch.randn(p.shape, generator=gen, dtype=torch.float64) * s
        elif scheme == "zeros":
            value = torch.zeros_like(value)
        out[name] = value.to(device=device, dtype=dtype)
    return out
