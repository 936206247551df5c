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
    "LSTMSpec",
    "MLPSpec",
    "ModelSpec",
    "PathExpansion",
    "SmallCNN",
    "build",
    "init_params",
    "path_count",
    "path_expansion",
    "spec_from_dict",
]

Activation = Literal["relu", "sigmoid", "tanh", "quadratic", "linear"]


class Quadratic(nn.Module):
    """Elementwise square, the activation of quadratic networks."""

    def forward(self, x: Tensor) -> Tensor:
        return x * x


#: parameterless activation modules that act elementwise (they commute with any permutation
#: of units, and a Linear chain can be expanded through them): what the surface grid's
#: chain expansion and weight matching both accept
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
    nn.Softplus,
    nn.Identity,
    Quadratic,
)

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
    batchnorm: bool = False
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

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
        extra = (", BN" if self.batchnorm else "") + (
            f", dropout {self.dropout}" if self.dropout else ""
        )
        return f"CNN {self.in_channels}×{self.image_size}² conv[{ch}]{extra} → {self.out_features}"


from .models_cnn import FrozenBatchNorm2d  # noqa: E402  (workhorse nets: BN, LSTM LM)
from .models_rnn import LSTMLanguageModel, LSTMSpec  # noqa: E402

ModelSpec = Annotated[MLPSpec | CNNSpec | LSTMSpec, Field(discriminator="kind")]


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
                *([FrozenBatchNorm2d(c)] if spec.batchnorm else []),
                ACTIVATIONS[spec.activation](),
                nn.MaxPool2d(2),
            ]
            c_in = c
        self.features = nn.Sequential(*blocks)
        self.drop = nn.Dropout(spec.dropout)
        side = spec.image_size // (2 ** len(spec.channels))
        self.head = nn.Linear(c_in * side * side, spec.out_features, bias=spec.bias)

    def forward(self, x: Tensor) -> Tensor:
        s = self.spec
        x = x.reshape(x.shape[0], s.in_channels, s.image_size, s.image_size)
        return self.head(self.drop(self.features(x).flatten(1)))


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
    if isinstance(spec, LSTMSpec):
        return LSTMLanguageModel(spec)
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


# ---------------------------------------------------------------- path expansion


class PathExpansion(BaseModel):
    """The path expansion of a bias-free ReLU MLP with one output (Choromanska et al. 2015).

    ``ŷ(x) = q Σ_{i=1}^{d_0} Σ_{j=1}^{γ} x_i A_ij Π_{k=1}^{H} w^(k)_ij``: every path from an
    input ``i`` through one unit per hidden layer to the output contributes the product of
    its ``H`` weights, gated by ``A_ij ∈ {0, 1}`` (1 when every ReLU on the path is active).

    Attributes:
        output: ``(B,)`` the expansion evaluated on each input (equals the forward pass for
            ``q = 1``).
        activations: ``(B, Ψ)`` the gates ``A`` in path order (input-major), float 0/1.
        path_weights: ``(Ψ,)`` ``Π_k w^(k)`` for every path.
        n_params: ``N``, the number of weights.
        paths: ``Ψ = d_0 · γ``, the number of input–output paths; ``γ = Π`` hidden widths.
        depth: ``H``, the number of weight layers.
        spins: ``Λ = Ψ^{1/H}``, the size of the matching spin glass.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    output: Tensor
    activations: Tensor
    path_weights: Tensor
    n_params: int
    paths: int
    depth: int
    spins: float
    q: float = 1.0


def path_count(spec: MLPSpec) -> int:
    """``Ψ``: the number of input-to-output paths of an MLP with one output."""
    total = spec.in_features
    for w in spec.widths:
        total *= w
    return total * spec.out_features


def path_expansion(
    params: Params,
    spec: MLPSpec,
    x: Tensor,
    q: float = 1.0,
    max_bytes: int = 1 << 30,
) -> PathExpansion:
    """Expand a bias-free ReLU MLP with one output into its sum over paths.

    A diagnostic for small nets: it materialises the ``(B, Ψ)`` gates, so it refuses
    sizes whose path tensor would exceed ``max_bytes``.

    Args:
        params: the MLP's parameters (``layers.{k}.weight``).
        spec: an :class:`MLPSpec` with ``activation="relu"``, ``bias=False`` and
            ``out_features=1``.
        x: ``(B, d_0)`` inputs.
        q: the constant in front of the sum (1 reproduces the forward pass; Choromanska et
            al. fold a normalisation into it).
        max_bytes: memory allowed for the path tensor.

    Raises:
        LandscapeError: the net is not a bias-free one-output ReLU MLP, or the path
            tensor would not fit in ``max_bytes``.
    """
    if not isinstance(spec, MLPSpec):
        raise LandscapeError(f"path expansion needs an MLPSpec, got {type(spec).__name__}")
    if spec.activation != "relu" or spec.bias or spec.out_features != 1:
        raise LandscapeError(
            "path expansion needs a ReLU MLP with bias=False and out_features=1; got "
            f"activation={spec.activation!r}, bias={spec.bias}, out_features={spec.out_features}"
        )
    if spec.output_activation != "none":
        raise LandscapeError("path expansion needs output_activation='none'")
    psi = path_count(spec)
    b = x.shape[0]
    need = b * psi * x.element_size() * 3
    if need > max_bytes:
        raise LandscapeError(
            f"path expansion of {spec.describe()} on {b} inputs has Ψ={psi:,} paths per input "
            f"and needs ~{need / 2**30:.2f} GiB (limit {max_bytes / 2**30:.2f} GiB); "
            "use fewer inputs, a smaller net, or raise max_bytes"
        )
    weights = [params[f"layers.{k}.weight"] for k in range(len(spec.widths) + 1)]
    h = x.reshape(b, -1)
    masks = []  # ReLU gates of each hidden layer, (B, d_k)
    a = h
    for w in weights[:-1]:
        pre = a @ w.T
        masks.append((pre > 0).to(h.dtype))
        a = pre * masks[-1]
    # extend every path one edge at a time; tensors are input-major (B, d0, d1, ..., d_k)
    contrib = h  # x_i Π w Π A along the path so far
    gates = torch.ones_like(h)
    prod_w = torch.ones(h.shape[1], dtype=h.dtype, device=h.device)
    for k, w in enumerate(weights):
        wt = w.T  # (d_k, d_{k+1})
        contrib = contrib.unsqueeze(-1) * wt
        prod_w = prod_w.unsqueeze(-1) * wt
        gate = masks[k] if k < len(masks) else torch.ones(b, 1, dtype=h.dtype, device=h.device)
        shape = (b,) + (1,) * (contrib.dim() - 2) + (gate.shape[1],)
        contrib = contrib * gate.reshape(shape)
        gates = gates.unsqueeze(-1) * gate.reshape(shape)
    output = q * contrib.reshape(b, -1).sum(1)
    n_params = sum(w.numel() for w in weights)
    depth = len(weights)
    return PathExpansion(
        output=output,
        activations=gates.reshape(b, -1),
        path_weights=prod_w.reshape(-1),
        n_params=n_params,
        paths=psi,
        depth=depth,
        spins=float(psi ** (1.0 / depth)),
        q=q,
    )


# ---------------------------------------------------------------- residual CNN (skip connections)


class ResidualCNNSpec(_Spec):
    """A small residual CNN, with or without its skip connections (Li et al. 2018).

    ``conv3×3(in → C) → ReLU``, then ``blocks`` blocks ``h ← ReLU(h + conv(ReLU(conv(h))))``
    (``skip=False``: ``h ← ReLU(conv(ReLU(conv(h))))``, same depth and parameters), global
    average pooling and a linear head. No batch norm, so a checkpoint's parameters are the
    whole model.
    """

    kind: Literal["resnet"] = "resnet"
    in_channels: int = Field(default=1, gt=0)
    image_size: int = Field(gt=0)
    channels: int = Field(default=8, gt=0)
    blocks: int = Field(default=3, ge=0)
    out_features: int = Field(gt=0)
    skip: bool = True

    def describe(self) -> str:
        how = "with skips" if self.skip else "no skips"
        return (
            f"residual CNN {self.in_channels}×{self.image_size}² C={self.channels}, "
            f"{self.blocks} blocks ({how}) → {self.out_features}"
        )


class _ResBlock(nn.Module):
    def __init__(self, c: int, skip: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.skip = skip

    def forward(self, h: Tensor) -> Tensor:
        out = self.conv2(torch.relu(self.conv1(h)))
        return torch.relu(h + out if self.skip else out)


class ResidualCNN(nn.Module):
    """Module built from a :class:`ResidualCNNSpec`."""

    def __init__(self, spec: ResidualCNNSpec) -> None:
        super().__init__()
        self.spec = spec
        self.stem = nn.Conv2d(spec.in_channels, spec.channels, 3, padding=1)
        blocks = (_ResBlock(spec.channels, spec.skip) for _ in range(spec.blocks))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(spec.channels, spec.out_features)

    def forward(self, x: Tensor) -> Tensor:
        s = self.spec
        x = x.reshape(x.shape[0], s.in_channels, s.image_size, s.image_size)
        h = self.blocks(torch.relu(self.stem(x)))
        return self.head(h.mean(dim=(2, 3)))


def _register_residual() -> None:
    """Add :class:`ResidualCNNSpec` to :data:`ModelSpec` and :func:`build` (self-contained)."""
    import typing

    global ModelSpec, _construct
    union = typing.get_args(ModelSpec)[0]
    members = typing.get_args(union) or (union,)
    if ResidualCNNSpec not in members:
        union = typing.Union[(*members, ResidualCNNSpec)]
        ModelSpec = Annotated[union, Field(discriminator="kind")]
    base = _construct

    def construct(spec):  # type: ignore[no-untyped-def]
        return ResidualCNN(spec) if isinstance(spec, ResidualCNNSpec) else base(spec)

    _construct = construct


_register_residual()
__all__ += ["ResidualCNN", "ResidualCNNSpec"]
