"""Settings of ``landscape reproduce freeman-bruna`` (presets in ``configs/freeman-bruna/``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ....runtime.config import StrictModel
from ..._base import ExperimentConfig, refuse_unused

__all__ = ["Config", "DigitsConfig", "PolyConfig", "WorkhorseConfig"]


class PolyConfig(StrictModel):
    """Part (i): polynomial regression with 1-4-4-1 sigmoid MLPs.

    ``train_steps`` is the full-batch Adam budget of every endpoint.
    """

    problems: list[Literal["quadratic", "cubic"]] = Field(
        default_factory=lambda: ["quadratic", "cubic"]
    )
    variant: Literal["bias", "nobias-sigmoid-out"] = "bias"
    n_train: int = Field(default=10_000, ge=10)
    pairs: int = Field(default=5, ge=1)
    train_steps: int = Field(default=5000, ge=1)
    train_lr: float = Field(default=1e-2, gt=0)
    thresholds: list[float] = Field(default_factory=lambda: [0.1, 0.07, 0.05, 0.035, 0.025])


class DigitsConfig(StrictModel):
    """Part (ii): a digits MLP, thresholds on test error.

    The endpoint budget is ``train_epochs`` epochs of minibatch Adam.
    """

    enabled: bool = True
    widths: list[int] = Field(default_factory=lambda: [32])
    pairs: int = Field(default=3, ge=1)
    train_epochs: int = Field(default=40, ge=1)
    train_lr: float = Field(default=1e-2, gt=0)
    batch_size: int = Field(default=128, ge=1)
    thresholds: list[float] = Field(default_factory=lambda: [0.15, 0.10, 0.07, 0.05])


class WorkhorseConfig(StrictModel):
    """One workhorse network (``--task``): a CNN on MNIST/CIFAR-10 or an LSTM on PTB.

    Attributes:
        pairs, thresholds: pairs of endpoints per threshold; thresholds on the test error
            (CNNs) or the test perplexity (LSTM).
        train_lr, train_steps, batch_size: minibatch Adam of the endpoints (``train_steps``
            is the budget of each endpoint run).
        eval_size: the threshold is checked (while training endpoints and beads, and along
            segments) on the first ``eval_size`` test samples (``None``: the whole split);
            the strings are confirmed on the whole test split at the end.
        check_every: steps between checks of the threshold.
        n_train: a seeded subset of the training split (``None``: all of it).
        chunk_size, points_chunk: rows per evaluation chunk, points per vmapped pass.
        channels, batchnorm, dropout: the CNN (``[conv3×3 → (BN) → ReLU → pool] ×``).
        embed_size, hidden_size, layers, tie_weights: the LSTM language model.
        columns, bptt: PTB batchified into ``columns`` streams cut into ``bptt``-step windows.
    """

    pairs: int = Field(default=2, ge=1)
    thresholds: list[float] = Field(default_factory=lambda: [0.1, 0.05])
    train_lr: float = Field(default=1e-3, gt=0)
    train_steps: int = Field(default=2000, ge=1)
    batch_size: int = Field(default=64, ge=1)
    eval_size: int | None = Field(default=1000, ge=1)
    check_every: int = Field(default=10, ge=1)
    n_train: int | None = Field(default=None, ge=1)
    chunk_size: int | None = Field(default=2048, ge=1)
    points_chunk: int | None = Field(default=16, ge=1)
    channels: list[int] = Field(default_factory=lambda: [16, 32])
    batchnorm: bool = False
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    embed_size: int = Field(default=200, ge=1)
    hidden_size: int = Field(default=200, ge=1)
    layers: int = Field(default=2, ge=1)
    tie_weights: bool = False
    columns: int = Field(default=20, ge=1)
    bptt: int = Field(default=35, ge=1)


class Config(ExperimentConfig):
    """Settings (presets in ``configs/freeman-bruna/{quick,full}.yaml``).

    Attributes:
        task: ``paper`` (the polynomial regressions, the digits MLP and the symmetry
            example) or one workhorse network: ``mnist-cnn``, ``cifar10-cnn``, ``ptb-lstm``.
        data_dir: the folder with the task's files (MNIST IDX, CIFAR-10 ``.bin``, PTB
            ``.txt``); ``None``: the bundled digits (``mnist-cnn``) or a small generated
            corpus (``ptb-lstm``); ``cifar10-cnn`` needs it.
        protocol: ``to-threshold`` (Freeman & Bruna's Algorithm 1: for every ``L0`` a fresh
            pair is trained until its thresholded quantity first reaches ``L0``, within the
            step budget) or ``fixed-steps`` (each pair trained once for the whole budget and
            reused at every ``L0`` below which both ends lie).
        endpoint_check_every: steps between threshold checks of the paper problems'
            endpoints (1: they stop at the first step at or below ``L0``).
        method: ``dss`` (greedy, Algorithm 1) or ``dss-constrained`` (batched string).
        alpha: beads are trained to ``alpha · L0``.
        bead_lr, max_steps, max_beads, max_depth, grid: DSS settings (Adam on beads).
    """

    task: Literal["paper", "mnist-cnn", "cifar10-cnn", "ptb-lstm"] = "paper"
    data_dir: str | None = None
    protocol: Literal["to-threshold", "fixed-steps"] = "to-threshold"
    endpoint_check_every: int = Field(default=1, ge=1)
    polynomial: PolyConfig = Field(default_factory=PolyConfig)
    digits: DigitsConfig = Field(default_factory=DigitsConfig)
    mnist_cnn: WorkhorseConfig = Field(default_factory=WorkhorseConfig)
    cifar10_cnn: WorkhorseConfig = Field(default_factory=WorkhorseConfig)
    ptb_lstm: WorkhorseConfig = Field(
        default_factory=lambda: WorkhorseConfig(thresholds=[400.0, 250.0], eval_size=None)
    )
    method: Literal["dss", "dss-constrained"] = "dss"
    alpha: float = Field(default=0.95, gt=0, lt=1)
    bead_lr: float = Field(default=1e-2, gt=0)
    max_steps: int = Field(default=3000, ge=1)
    max_beads: int = Field(default=32, ge=1)
    max_depth: int = Field(default=8, ge=1)
    grid: int = Field(default=33, ge=3)

    @model_validator(mode="after")
    def _applies(self) -> Config:
        refuse_unused(
            self,
            {"data_dir": (self.task != "paper", "to --task mnist-cnn, cifar10-cnn or ptb-lstm")},
        )
        return self
