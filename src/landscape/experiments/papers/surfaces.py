"""``landscape reproduce surfaces``: the loss-surface pictures of the seeds, with numbers.

Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing the Loss Landscape of Neural Nets*,
in the two forms the seeds show:

(i) *Four zoom levels* (the seminar's Figure 1.5): a four-layer ReLU MLP trained to (near)
zero training loss; the plane through that minimum along two filter-normalised random
directions, drawn at ranges 1, 0.1, 0.01 and 0.001. The claim: zooming in, the rugged
picture becomes a smooth bowl around the minimum. Table "zoom": per range, the loss at the
centre, the minimum and maximum over the grid, the mean at the grid's edge along the axes,
and the fraction of grid points where the surface curves down.

(ii) *Skip connections* (the Bruna slides, after Li et al. Fig. 1): a residual CNN trained
with and without its skip connections — same depth, data, initialisation seed and budget —
and both surfaces side by side. The claim: without skips the surface is more chaotic and
less convex. Table "skip connections": per network, its training loss and error, the mean
loss at radius 1 along ``±d₁, ±d₂``, the Hessian's extreme eigenvalues and Li et al.'s
convexity measure ``|λ_min| / λ_max`` at the minimum (Lanczos, residual reported), and the
fraction of grid points where the surface curves down.

MNIST 10×10 with ``--mnist-dir``, the bundled digits otherwise. One task per network
(train, then slice, then the Hessian), recorded as it finishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from ... import data
from ...curvature import HessianOperator, eigenpairs
from ...functional import FunctionalModel
from ...models import MLPSpec, ResidualCNNSpec, build
from ...runtime.store import task_key
from ...surface import Directions, Surface, random_directions, zoom
from .._base import MnistOrDigitsConfig, resolve_device, torch_dtype
from ..lifecycle import Results, Summary
from ..members import member_seed

NAME = "surfaces"
TASKS_LABEL = "networks"
NETS = ("mlp", "resnet-noskip", "resnet-skip")


class Config(MnistOrDigitsConfig):
    """Settings (presets in ``configs/surfaces/{quick,full}.yaml``).

    Attributes:
        dataset, mnist_dir, image_size: digits (8×8) or MNIST downsampled to
            ``image_size²``.
        n_train: training samples used (the surfaces are on the same set).
        mlp_widths: hidden widths of the MLP (three: four weight layers).
        mlp_steps, mlp_lr: full-batch Adam steps to (near) zero training loss.
        ranges, zoom_steps: the zoom levels and grid points per axis for (i).
        channels, blocks, resnet_steps, resnet_lr, batch_size: the residual CNN and its
            minibatch Adam budget (the same for both variants).
        skip_range, skip_steps: the plane for (ii).
        hessian_tol: relative residual asked of the two extreme eigenpairs.
    """

    image_size: int = Field(default=10, ge=4, le=28)
    n_train: int = Field(default=1000, ge=10)
    mlp_widths: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 64, 64])
    mlp_steps: int = Field(default=2000, ge=1)
    mlp_lr: float = Field(default=3e-3, gt=0)
    ranges: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [1.0, 0.1, 0.01, 0.001], min_length=1
    )
    zoom_steps: int = Field(default=41, ge=3)
    channels: int = Field(default=8, ge=1)
    blocks: int = Field(default=8, ge=1)
    resnet_steps: int = Field(default=60, ge=1)
    resnet_lr: float = Field(default=3e-3, gt=0)
    batch_size: int = Field(default=100, ge=1)
    skip_range: float = Field(default=1.0, gt=0)
    skip_steps: int = Field(default=41, ge=3)
    hessian_tol: float = Field(default=1e-2, gt=0)


def check(cfg: Config) -> None:
    """The MNIST folder, when one is used, before a run is recorded."""
    if cfg.uses_mnist:
        data.check_mnist_dir(cfg.mnist_dir)


def load_dataset(cfg: Config) -> tuple[data.Dataset, int, int]:
    """The training set (first ``n_train`` rows), its image side and channel count."""
    dtype = torch_dtype(cfg.dtype)
    if cfg.uses_mnist:
        ds = data.mnist(
            cfg.mnist_dir, size=cfg.image_size, n_train=cfg.n_train, seed=cfg.seed, dtype=dtype
        )
        return ds, cfg.image_size, 1
    ds = data.digits(seed=cfg.seed, dtype=dtype).subset(n_train=cfg.n_train)
    return ds, 8, 1


@dataclass(frozen=True)
class NetTask:
    """Train one network, slice its landscape, and measure its Hessian's extremes."""

    config: dict
    net: str

    @property
    def key(self) -> str:
        return task_key(net=self.net)

    def run(self) -> dict:
        return net_job(Config.model_validate(self.config), self.net)


def tasks(cfg: Config) -> list:
    conf = cfg.model_dump(mode="json")
    return [NetTask(conf, n) for n in NETS]


def _spec(cfg: Config, net: str, side: int, channels: int, n_out: int):
    if net == "mlp":
        return MLPSpec(
            in_features=channels * side * side, widths=tuple(cfg.mlp_widths), out_features=n_out
        )
    return ResidualCNNSpec(
        in_channels=channels,
        image_size=side,
        channels=cfg.channels,
        blocks=cfg.blocks,
        out_features=n_out,
        skip=net == "resnet-skip",
    )


def train(
    model: torch.nn.Module, batch: tuple, lr: float, steps: int, batch_size: int | None, seed: int
) -> dict:
    """``steps`` Adam steps on cross-entropy (full batch, or seeded minibatches); returns
    the trained parameters. ``model`` is built here for the purpose and consumed."""
    x, y = batch
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    for _ in range(steps):
        if batch_size is None or batch_size >= n:
            xb, yb = x, y
        else:
            idx = torch.randperm(n, generator=gen)[:batch_size].to(x.device)
            xb, yb = x[idx], y[idx]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xb), yb).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def net_job(cfg: Config, net: str) -> dict[str, Any]:
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    ds, side, ch = load_dataset(cfg)
    ds = ds.to(device, dtype)
    spec = _spec(cfg, net, side, ch, ds.out_features)
    # both residual variants start from the same seed: the same initial weights
    seed = member_seed(cfg.seed, 0 if net == "mlp" else 1, 0)
    mlp = net == "mlp"
    params = train(
        build(spec, seed=seed, dtype=dtype, device=device),
        ds.train,
        cfg.mlp_lr if mlp else cfg.resnet_lr,
        cfg.mlp_steps if mlp else cfg.resnet_steps,
        None if mlp else cfg.batch_size,
        seed,
    )
    fm = FunctionalModel(build(spec, dtype=dtype, device=device))
    d = random_directions(params, 2, seed=cfg.seed)
    ranges = cfg.ranges if mlp else [cfg.skip_range]
    steps = cfg.zoom_steps if mlp else cfg.skip_steps
    # the MLP's zoom in float64 whatever the training dtype: at ±0.001 its loss varies by
    # ~1e-9 around ~1e-5, below float32's rounding of the per-sample cross-entropies (a
    # float32 grid draws that rounding as ripples); the parameters are used as trained.
    # The CNNs' planes (one range, ±1) stay in the training dtype (float64 was 9× slower).
    surfaces = zoom(fm, params, d, ds.train, ranges, steps, dtype=torch.float64 if mlp else None)
    out: dict[str, Any] = {
        "spec": spec.describe(),
        "num_params": sum(v.numel() for v in params.values()),
    }
    m = fm.metrics(params, ds.train)
    out["train_loss"] = float(m["loss"])
    out["train_error"] = 1.0 - float(m["accuracy"])
    for i, s in enumerate(surfaces):
        out[f"loss_{i}"] = s.loss
        out[f"error_{i}"] = s.error
        out[f"alpha_{i}"] = s.alpha
    if not mlp:
        op = HessianOperator(fm, params, ds.train)
        for which in ("top", "bottom"):
            r = eigenpairs(op, k=1, which=which, tol=cfg.hessian_tol, seed=cfg.seed)
            out[f"lambda_{which}"] = float(r.eigenvalues[0])
            out[f"residual_{which}"] = float(r.max_relative_residual)
    return out


def _surfaces(cfg: Config, r: dict, net: str) -> list[Surface]:
    ranges = cfg.ranges if net == "mlp" else [cfg.skip_range]
    dirs = Directions((), "random", info={"normalization": "filter"})
    out = []
    for i, rng in enumerate(ranges):
        a = np.asarray(r[f"alpha_{i}"])
        err = r.get(f"error_{i}")
        out.append(
            Surface(
                a,
                a,
                np.asarray(r[f"loss_{i}"]),
                None if err is None else np.asarray(err),
                dirs,
                {},
                {"range": rng},
            )
        )
    return out


def reduce(cfg: Config, results: Results) -> Summary:
    """The zoom table (i), the skip-connection table (ii), every grid as arrays."""
    from ..tools.plane import curvature_fraction, level_row

    by = {t.net: r for t, r in results}
    zoom_rows = [level_row(s) for s in _surfaces(cfg, by["mlp"], "mlp")]
    skip_rows = []
    for net in ("resnet-noskip", "resnet-skip"):
        r = by[net]
        s = _surfaces(cfg, r, net)[0]
        row = level_row(s)
        lam_max, lam_min = r["lambda_top"], r["lambda_bottom"]
        skip_rows.append(
            {
                "network": "without skips" if net == "resnet-noskip" else "with skips",
                "params": int(r["num_params"]),
                "train loss": r["train_loss"],
                "train error": r["train_error"],
                "mean loss at radius 1": row["mean loss at edge (axes)"]
                if cfg.skip_range == 1.0
                else float("nan"),
                "λ_max": lam_max,
                "λ_min": lam_min,
                "|λ_min|/λ_max": abs(lam_min) / lam_max if lam_max > 0 else float("nan"),
                "eig residual": max(r["residual_top"], r["residual_bottom"]),
                "fraction curving down": curvature_fraction(s.loss),
            }
        )
    mlp = by["mlp"]
    notes = [
        f"(i) {mlp['spec']}: train loss {mlp['train_loss']:.3g}, train error "
        f"{mlp['train_error']:.3g} on {cfg.n_train} samples",
        f"(ii) {by['resnet-skip']['spec']} and the same without skips, "
        f"{cfg.resnet_steps} Adam steps each",
    ]
    a, b = skip_rows
    notes.append(
        f"skip connections: |λ_min|/λ_max {a['|λ_min|/λ_max']:.3g} → {b['|λ_min|/λ_max']:.3g}, "
        f"fraction curving down {a['fraction curving down']:.3g} → "
        f"{b['fraction curving down']:.3g} (without → with)"
    )
    arrays = {}
    for net, r in by.items():
        for i, s in enumerate(_surfaces(cfg, r, net)):
            arrays[f"{net}_z{i}"] = s.arrays()
    return Summary(
        tables={
            "zoom: four-layer ReLU MLP at its minimum": zoom_rows,
            "skip connections: residual CNN": skip_rows,
        },
        notes=notes,
        metrics=[
            (i, {k: v for k, v in row.items() if isinstance(v, float)})
            for i, row in enumerate(skip_rows)
        ],
        arrays=arrays,
        data={"surfaces": {net: _surfaces(cfg, r, net) for net, r in by.items()}},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """The four-zoom panel of the MLP; the residual CNN without and with skips."""
    from ...plots.surface import plot_panels, plot_surface_3d

    s = summary.data["surfaces"]
    zoom_fig = plot_panels(
        {f"range ±{x.meta['range']:g}": x for x in s["mlp"]},
        title="four-layer ReLU MLP: loss around its minimum at four zoom levels",
    )
    skip_fig = plot_panels(
        {
            "without skip connections": s["resnet-noskip"][0],
            "with skip connections": s["resnet-skip"][0],
        },
        title="residual CNN: loss surface without and with skip connections",
    )
    return {
        "mlp_zoom": (zoom_fig, "(i) the MLP's minimum at every zoom range"),
        "mlp_surface_3d": (
            plot_surface_3d(s["mlp"][0], title="MLP loss surface, range ±1"),
            "(i) the widest range in 3-D",
        ),
        "skip_connections": (skip_fig, "(ii) the residual CNN without and with skips"),
    }
