"""``landscape reproduce choromanska``: test losses of many ReLU nets concentrate as size grows.

Choromanska, Henaff, Mathieu, Ben Arous & LeCun 2015, *The Loss Surfaces of Multilayer
Networks*, section 6: one-hidden-layer ReLU networks with ``n1`` hidden units are trained
from many random starts; the distribution of their final test losses narrows as ``n1``
grows, and the correlation between train and test loss falls. Every size's runs are
trained as batched ensembles (tasks of ``runs_per_task`` members), through the executor,
recorded in the store as they finish, so an interrupted sweep resumes.

The table has one row per width ``n1``: parameters ``N``, paths ``Ψ`` and ``Λ = Ψ^{1/H}``
(the spin-glass size the path expansion maps the net to), the finished and diverged runs,
the mean, spread (std), range and error of the test losses, and corr(train, test) — the
spread narrows and the correlation falls as ``n1`` grows.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from ... import data
from ..._errors import DataError
from ...functional import FunctionalModel
from ...models import MLPSpec, build, init_params, path_count
from ...optim import SGD, make_schedule
from .._base import MnistOrDigitsConfig, resolve_device, torch_dtype
from ..lifecycle import Results, Summary
from ..members import MembersProblem, chunks, gather

NAME = "choromanska"
TASKS_LABEL = "nets (size × chunk)"

#: bounds a config may ask for: far above the paper's sweep, low enough to catch a typo
#: (``runs=1000000000000``) with one line before anything is built or recorded
MAX_WIDTH = 100_000
MAX_RUNS = 1_000_000
MAX_TASKS = 100_000
MAX_TASK_PARAMS = 2**30  # parameters trained at once in one task (4 GiB of float32 weights)


class Config(MnistOrDigitsConfig):
    """Settings (presets in ``configs/choromanska/{quick,full}.yaml``).

    Attributes:
        dataset: ``auto`` uses MNIST when ``mnist_dir`` is given, else the bundled digits.
        mnist_dir: folder with the four MNIST IDX files.
        image_size: MNIST is area-downsampled to ``image_size²`` (10 in the paper).
        n_train, n_test: optional subsets (MNIST only).
        sizes: hidden-layer widths ``n1``.
        runs: random starts per size.
        runs_per_task: members trained together in one batched task.
        init, init_scale: weights and biases drawn U[−s, s] (paper: s = 1) or N(0, s²).
        epochs, batch_size, lr, decay: SGD with lr_t = lr / (1 + decay·t) per epoch.

    Bounds (checked before a run is recorded): widths 1..``MAX_WIDTH``, each listed once;
    runs 2..``MAX_RUNS``; at most ``MAX_TASKS`` tasks (sizes × ⌈runs / runs_per_task⌉)
    and ``MAX_TASK_PARAMS`` parameters trained at once in one task.
    """

    image_size: int = Field(default=10, ge=2, le=28)
    n_train: int | None = Field(default=None, ge=1)
    n_test: int | None = Field(default=None, ge=1)
    sizes: list[Annotated[int, Field(ge=1, le=MAX_WIDTH)]] = Field(
        default_factory=lambda: [25, 50, 100, 250, 500], min_length=1, max_length=1000
    )
    runs: int = Field(default=1000, ge=2, le=MAX_RUNS)
    runs_per_task: int = Field(default=100, ge=1, le=MAX_RUNS)
    init: Literal["uniform", "normal", "default"] = "uniform"
    init_scale: float = Field(default=1.0, gt=0)
    epochs: int = Field(default=200, ge=1, le=1_000_000)
    batch_size: int = Field(default=100, ge=1, le=10_000_000)
    lr: float = Field(default=0.05, gt=0)
    decay: float = Field(default=0.1, ge=0)
    momentum: float = Field(default=0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _sweep_size(self) -> Config:
        dup = sorted({n for n in self.sizes if self.sizes.count(n) > 1})
        if dup:
            raise ValueError(
                f"sizes={self.sizes} lists width {dup[0]} more than once; list each width once"
            )
        chunks = -(-self.runs // self.runs_per_task)
        if len(self.sizes) * chunks > MAX_TASKS:
            raise ValueError(
                f"runs={self.runs} in chunks of runs_per_task={self.runs_per_task} for "
                f"{len(self.sizes)} width(s) makes {len(self.sizes) * chunks:,} tasks (limit "
                f"{MAX_TASKS:,}); raise runs_per_task or lower runs"
            )
        d = self.image_size**2 if self.uses_mnist else 64
        width = max(self.sizes)
        per_net = d * width + width + width * 10 + 10
        nets = min(self.runs_per_task, self.runs)
        if nets * per_net > MAX_TASK_PARAMS:
            raise ValueError(
                f"one task would train {nets:,} nets of width n1={width:,} "
                f"({per_net:,} parameters each, {nets * per_net:,} in all) at once (limit "
                f"{MAX_TASK_PARAMS:,}); lower runs_per_task or the widths in sizes"
            )
        return self


def check(cfg: Config) -> None:
    """Inputs checked before a run is recorded: the MNIST files (names, headers, counts,
    and their contents read through once), so a bad folder leaves no failed run.

    Raises:
        DataError: a missing or malformed MNIST file, or images smaller than image_size.
    """
    if cfg.uses_mnist:
        shapes = data.check_mnist_dir(cfg.mnist_dir, values=True)
        h, w = shapes["train_images"][1:]
        if cfg.image_size > min(h, w):
            raise DataError(
                f"image_size={cfg.image_size} is larger than the {h}×{w} images in "
                f"{cfg.mnist_dir}; set image_size to at most {min(h, w)}"
            )


def load_dataset(cfg: Config) -> data.Dataset:
    """MNIST (downsampled) when configured, else the bundled digits."""
    dtype = torch_dtype(cfg.dtype)
    if cfg.uses_mnist:
        return data.mnist(
            cfg.mnist_dir,
            size=cfg.image_size,
            n_train=cfg.n_train,
            n_test=cfg.n_test,
            seed=cfg.seed,
            dtype=dtype,
        )
    return data.digits(seed=cfg.seed, dtype=dtype)


def members_problem(cfg: Config, size: int) -> MembersProblem:
    """One-hidden-layer ReLU nets of width ``size``: U[−s, s] init, SGD, lr/(1 + decay·t)."""
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    ds = load_dataset(cfg).to(device, dtype)
    spec = MLPSpec(in_features=ds.in_features, widths=(size,), out_features=ds.out_features)
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
    init = dict(weight=cfg.init, weight_scale=cfg.init_scale, bias=cfg.init)
    return MembersProblem(
        init=lambda s: init_params(
            spec, s, **init, bias_scale=cfg.init_scale, dtype=dtype, device=device
        ),
        loss=fm.loss,
        train=ds.train,
        optimizer=SGD(lr=cfg.lr, momentum=cfg.momentum),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        schedule=make_schedule("inverse", lr=cfg.lr, c=cfg.decay),
        eval_data=ds.test,
        metrics=fm.metrics,
    )


def tasks(cfg: Config) -> list:
    """Sizes × chunks of ``runs_per_task`` seeds."""
    conf = cfg.model_dump(mode="json")
    return [t for n in cfg.sizes for t in chunks(NAME, conf, n, cfg.runs, cfg.runs_per_task)]


def size_table(
    cfg: Config, per_size: dict[int, dict[str, np.ndarray]], in_features: int, out_features: int
) -> list[dict]:
    """One row per hidden size: spread of test losses and the train/test correlation.

    Diverged nets (non-finite losses) are counted in ``diverged`` and left out of the
    statistics; a size with none finished has NaN statistics (two are needed for ``std``,
    three for the correlation).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # extreme losses: no warning lines
        return _size_rows(per_size, in_features, out_features)


def _size_rows(
    per_size: dict[int, dict[str, np.ndarray]], in_features: int, out_features: int
) -> list[dict]:
    rows = []
    nan = float("nan")
    for size, r in per_size.items():
        ok = finished(r)
        n = int(ok.sum())
        tl = r["test_loss"][ok].astype(np.float64)  # float64: huge losses square finitely
        tr = r["train_loss"][ok].astype(np.float64)
        spec = MLPSpec(in_features=in_features, widths=(size,), out_features=out_features)
        psi = path_count(spec)
        corr = float(np.corrcoef(tr, tl)[0, 1]) if n > 2 and tl.std() > 0 and tr.std() > 0 else nan
        rows.append(
            {
                "n1": size,
                "params N": (in_features + 1 + out_features) * size + out_features,
                "paths Ψ": psi,
                "Λ=Ψ^(1/H)": round(psi**0.5, 1),
                "runs": n,
                "diverged": int((~ok).sum()),
                "test loss mean": float(tl.mean()) if n else nan,
                "std": float(tl.std(ddof=1)) if n > 1 else nan,
                "min": float(tl.min()) if n else nan,
                "max": float(tl.max()) if n else nan,
                "test error mean": float(r["test_error"][ok].mean()) if n else nan,
                "corr(train, test)": corr,
            }
        )
    return rows


def finished(r: dict[str, np.ndarray]) -> np.ndarray:
    """Members that neither diverged nor ended with a non-finite loss."""
    return ~r["diverged"] & np.isfinite(r["test_loss"]) & np.isfinite(r["train_loss"])


def summary_notes(cfg: Config, rows: list[dict]) -> list[str]:
    """The spread and correlation trends, and which sizes had diverged nets."""
    notes = []
    diverged = [r for r in rows if r["diverged"]]
    if diverged:
        sizes = ", ".join(
            f"n1={r['n1']}: {r['diverged']} of {r['runs'] + r['diverged']}" for r in diverged
        )
        notes.append(
            f"diverged (non-finite loss, left out of the statistics): {sizes}; "
            f"a smaller lr (now {cfg.lr:g}) or init_scale (now {cfg.init_scale:g}) may help"
        )
    ok = [r for r in rows if np.isfinite(r["std"])]
    if ok:
        a, b = ok[0], ok[-1]
        notes.append(
            f"std of test loss from n1={a['n1']} to n1={b['n1']}: "
            f"{a['std']:.4g} → {b['std']:.4g} (narrows: {b['std'] < a['std']})"
        )
        notes.append(
            f"corr(train, test): {a['corr(train, test)']:.3f} → {b['corr(train, test)']:.3f}"
        )
    else:
        notes.append("no size has two finished nets: no spread or correlation to report")
    return notes


def _per_size(cfg: Config, results: Results) -> dict[int, dict[str, np.ndarray]]:
    out = {}
    for size in cfg.sizes:
        r = gather(results, size)
        out[size] = {
            "seeds": r["seeds"],
            "train_loss": r["final.train_loss"],
            "test_loss": r["final.test_loss"],
            "test_error": 1.0 - r["final.test_accuracy"],
            "diverged": r["diverged"],
        }
    return out


def _label(cfg: Config, name: str) -> str:
    return name + (f" {cfg.image_size}×{cfg.image_size}" if name == "mnist" else " 8×8")


def reduce(cfg: Config, results: Results) -> Summary:
    """The size table (spread, correlation), the trend notes, every net's losses."""
    per_size = _per_size(cfg, results)
    ds = load_dataset(cfg)
    rows = size_table(cfg, per_size, ds.in_features, ds.out_features)
    names = {
        "test_loss_mean": "test loss mean",
        "test_loss_std": "std",
        "corr_train_test": "corr(train, test)",
        "test_error_mean": "test error mean",
    }
    return Summary(
        tables={f"test loss by hidden size ({_label(cfg, ds.name)})": rows},
        notes=summary_notes(cfg, rows),
        metrics=[(row["n1"], {m: row[c] for m, c in names.items()}) for row in rows],
        arrays={"losses": {f"{k}_n1={s}": v for s, r in per_size.items() for k, v in r.items()}},
        data={"per_size": per_size, "rows": rows, "label": _label(cfg, ds.name)},
    )


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Histograms of the test losses per size; spread and correlation against size."""
    from ...plots.ensemble import loss_histograms, spread_vs_size

    out = {}
    # a histogram needs two finished nets; sizes where (nearly) all diverged are left out
    shown = {s: r["test_loss"][finished(r)] for s, r in summary.data["per_size"].items()}
    shown = {s: v for s, v in shown.items() if v.size > 1}
    if shown:
        fig = loss_histograms(
            shown,
            title=f"Test loss of {cfg.runs} one-hidden-layer ReLU nets per size "
            f"({summary.data['label']}, {cfg.epochs} epochs SGD)",
        )
        out["test_loss_histograms"] = (fig, "distribution of the final test losses per size")
    rows = summary.data["rows"]
    if any(np.isfinite(r["std"]) for r in rows):
        out["spread_vs_size"] = (
            spread_vs_size(rows),
            "std of the test losses and corr(train, test) against the hidden size",
        )
    return out
