"""The problems of ``freeman-bruna``: model, data, what beads descend, what ``L0`` bounds.

One :class:`Problem` per name: ``quadratic``, ``cubic`` (1-4-4-1 sigmoid MLPs, MAE),
``digits`` (an MLP, test error), and the workhorse networks ``mnist-cnn``, ``cifar10-cnn``
(small CNNs, test error) and ``ptb-lstm`` (an LSTM language model, test perplexity).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .... import data
from ...._errors import LandscapeError
from ....evaluate import Evaluator
from ....functional import FunctionalModel
from ....models import CNNSpec, LSTMSpec, MLPSpec, build, init_params
from ....params import Params
from ..._base import resolve_device, torch_dtype
from .config import Config, WorkhorseConfig

__all__ = ["GROUPS", "WORKHORSE", "Problem", "endpoint_seed", "get_problem", "problems"]

#: the group number of each problem in the seed scheme
GROUPS = {"quadratic": 0, "cubic": 1, "digits": 2, "mnist-cnn": 3, "cifar10-cnn": 4, "ptb-lstm": 5}
WORKHORSE = ("mnist-cnn", "cifar10-cnn", "ptb-lstm")


def endpoint_seed(seed: int, problem: str, level: int, index: int) -> int:
    """Seed of endpoint ``index`` trained for threshold number ``level`` (``-1``: all)."""
    ss = np.random.SeedSequence([seed, GROUPS[problem], 1 + level + 1, index])
    return int(ss.generate_state(1)[0])


@dataclass
class Problem:
    """Everything one problem's endpoints and strings need.

    Attributes:
        spec: the architecture; ``init(seed)`` a seeded initialisation.
        objective: the training loss (its data gives the gradients).
        measure: the thresholded quantity as checked (``None``: the objective).
        confirm: the same quantity on the whole split when ``measure`` uses a subset.
        label: the thresholded quantity, for tables and axes.
        lr, steps, batch_size, check_every: the endpoints' Adam run and its budget.
        thresholds, pairs: the sweep.
    """

    spec: MLPSpec | CNNSpec | LSTMSpec
    init: Callable[[int], Params]
    objective: Evaluator
    measure: Evaluator | None
    confirm: Evaluator | None
    label: str
    lr: float
    steps: int
    batch_size: int | None
    check_every: int
    thresholds: list[float]
    pairs: int


def problems(cfg: Config) -> list[str]:
    """The problems a config runs, in order."""
    if cfg.task != "paper":
        return [cfg.task]
    return list(cfg.polynomial.problems) + (["digits"] if cfg.digits.enabled else [])


def workhorse(cfg: Config, name: str) -> WorkhorseConfig:
    return getattr(cfg, name.replace("-", "_"))


def _poly_spec(variant: str) -> MLPSpec:
    if variant == "bias":
        return MLPSpec(in_features=1, widths=(4, 4), out_features=1, activation="sigmoid")
    return MLPSpec(
        in_features=1,
        widths=(4, 4),
        out_features=1,
        activation="sigmoid",
        bias=False,
        output_activation="sigmoid",
    )


def get_problem(cfg: Config, name: str) -> Problem:
    """The :class:`Problem` ``name`` of a config, on its device and dtype."""
    device, dtype = resolve_device(cfg.device), torch_dtype(cfg.dtype)
    if name in WORKHORSE:
        return _workhorse(cfg, name, device, dtype)
    if name == "digits":
        d = cfg.digits
        ds = data.digits(seed=cfg.seed, dtype=dtype).to(device)
        spec = MLPSpec(in_features=64, widths=tuple(d.widths), out_features=10)
        fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
        n = ds.x_train.shape[0]
        return Problem(
            spec,
            lambda s: init_params(spec, s, dtype=dtype, device=device),
            Evaluator.of_model(fm, ds.train),
            Evaluator.of_model(fm, ds.test, "error", name="test error"),
            None,
            "test error",
            d.train_lr,
            d.train_epochs * math.ceil(n / min(d.batch_size, n)),
            min(d.batch_size, n),
            cfg.endpoint_check_every,
            list(d.thresholds),
            d.pairs,
        )
    p = cfg.polynomial
    ds = data.polynomial(name, n_train=p.n_train, n_test=1000, seed=cfg.seed, dtype=dtype)
    ds = ds.to(device)
    spec = _poly_spec(p.variant)
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="mae")
    return Problem(
        spec,  # Freeman & Bruna: weights U[-1, 1], biases N(0, 1); full-batch steps
        lambda s: init_params(spec, s, "uniform", bias="normal", dtype=dtype, device=device),
        Evaluator(fm.loss, ds.train, name="MAE"),
        None,
        None,
        "MAE",
        p.train_lr,
        p.train_steps,
        None,
        cfg.endpoint_check_every,
        list(p.thresholds),
        p.pairs,
    )


def _dataset(cfg: Config, name: str, w: WorkhorseConfig, dtype: torch.dtype) -> data.Dataset:
    """The task's data: the user's files, or the bundled digits / a generated corpus."""
    if name == "ptb-lstm":
        from .... import text

        if cfg.data_dir is None:
            corpus = text.generated_corpus(seed=cfg.seed)
            return text.corpus_dataset(corpus, "generated", w.columns, w.bptt)
        ds = text.ptb(cfg.data_dir, w.columns, w.bptt, seed=cfg.seed)
    elif name == "mnist-cnn":
        if cfg.data_dir is None:
            ds = data.digits(seed=cfg.seed, dtype=dtype)
            ds.meta.update(image_size=8, in_channels=1)
        else:
            ds = data.mnist(cfg.data_dir, size=None, seed=cfg.seed, dtype=dtype)
            ds.meta["in_channels"] = 1
    else:
        if cfg.data_dir is None:
            raise LandscapeError(
                "--task cifar10-cnn needs --data-dir DIR (the folder with the CIFAR-10 binary "
                "files data_batch_1.bin … test_batch.bin)"
            )
        from ....cifar import cifar10

        ds = cifar10(cfg.data_dir, "channel", seed=cfg.seed, dtype=dtype)
    if w.n_train is not None and w.n_train < ds.x_train.shape[0]:
        idx = torch.from_numpy(
            np.sort(np.random.default_rng(cfg.seed).choice(ds.x_train.shape[0], w.n_train, False))
        )
        ds = data.Dataset(
            ds.name, ds.x_train[idx], ds.y_train[idx], ds.x_test, ds.y_test, ds.task,
            ds.num_classes, {**ds.meta, "n_train": w.n_train},
        )  # fmt: skip
    return ds


def _workhorse(cfg: Config, name: str, device: torch.device, dtype: torch.dtype) -> Problem:
    w = workhorse(cfg, name)
    ds = _dataset(cfg, name, w, dtype).to(device, dtype)
    if name == "ptb-lstm":
        spec = LSTMSpec(
            vocab_size=ds.num_classes,
            embed_size=w.embed_size,
            hidden_size=w.hidden_size,
            layers=w.layers,
            tie_weights=w.tie_weights,
        )
        measure, label = "perplexity", "test perplexity"
    else:
        spec = CNNSpec(
            in_channels=ds.meta["in_channels"],
            image_size=ds.meta["image_size"],
            channels=tuple(w.channels),
            out_features=10,
            batchnorm=w.batchnorm,
            dropout=w.dropout,
        )
        measure, label = "error", "test error"
    fm = FunctionalModel(build(spec, dtype=dtype, device=device), loss="cross_entropy")
    opts = {"chunk_size": w.chunk_size, "points_chunk": w.points_chunk}
    full = Evaluator.of_model(fm, ds.test, measure, name=label, **opts)
    n_test = ds.x_test.shape[0]
    if w.eval_size is not None and w.eval_size < n_test:
        sub = (ds.x_test[: w.eval_size], ds.y_test[: w.eval_size])
        check = Evaluator.of_model(fm, sub, measure, name=f"{label} ({w.eval_size})", **opts)
    else:
        check, full = full, None
    n = ds.x_train.shape[0]
    return Problem(
        spec,
        lambda s: init_params(spec, s, dtype=dtype, device=device),
        Evaluator.of_model(fm, ds.train, **opts),
        check,
        full,
        label,
        w.train_lr,
        w.train_steps,
        min(w.batch_size, n),
        w.check_every,
        list(w.thresholds),
        w.pairs,
    )
