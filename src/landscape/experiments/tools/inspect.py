"""``landscape inspect``: what a checkpoint holds and, with ``--data``, how well it does.

The table lists every tensor — parameters and buffers — (shape, size, dtype, L2 norm:
integer tensors in float64, booleans without one) under the architecture and parameter
count; with ``--data`` a second table gives the dataset-mean loss, accuracy and error on
the train and test splits (accumulated in at least float32, whatever the checkpoint's
dtype). A recorded run like the others, so a past inspection can be shown again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import model_validator

from ... import checkpoint
from ...data import DatasetName
from ...functional import dataset_mean
from ...params import num_params
from ...runtime.store import task_key
from .._base import (
    ExperimentConfig,
    data_folder_rules,
    load_checkpoint_with_data,
    refuse_unused,
)
from ..lifecycle import Results, Summary

NAME = "inspect"
TASKS_LABEL = "inspect"


class Config(ExperimentConfig):
    """The checkpoint and, optionally, a dataset to evaluate it on."""

    checkpoint: str
    data: DatasetName | None = None
    mnist_dir: str | None = None

    @model_validator(mode="after")
    def _applies(self) -> Config:
        refuse_unused(self, data_folder_rules(self.data, ("mnist_dir",)))
        return self


def _norm(v: torch.Tensor) -> float | str:
    """The L2 norm of a tensor of any dtype (integers in float64; bools have none)."""
    if v.dtype == torch.bool:
        return "-"
    if v.is_complex():
        return float(torch.linalg.vector_norm(v.detach()))
    if v.is_floating_point():
        return float(v.detach().float().norm())
    return float(v.detach().to(torch.float64).norm())


def check(cfg: Config) -> None:
    """The checkpoint loads (and fits the dataset): refused before a run is recorded."""
    checkpoint.load(cfg.checkpoint)
    if cfg.data is not None:
        load_checkpoint_with_data(cfg.checkpoint, cfg.data, cfg.mnist_dir, 0, cfg.device)


@dataclass(frozen=True)
class InspectTask:
    """Read the checkpoint; evaluate it on both splits of the dataset if one is named."""

    config: dict

    @property
    def key(self) -> str:
        return task_key(checkpoint=self.config["checkpoint"], data=self.config.get("data"))

    def run(self) -> dict[str, Any]:
        cfg = Config.model_validate(self.config)
        ck = checkpoint.load(cfg.checkpoint)
        tensors = [
            {
                "tensor": k,
                "kind": kind,
                "shape": "×".join(map(str, v.shape)) or "scalar",
                "numel": v.numel(),
                "dtype": str(v.dtype).removeprefix("torch."),
                "norm": _norm(v),
            }
            for kind, group in (("parameter", ck.params), ("buffer", ck.buffers))
            for k, v in group.items()
        ]
        out = {
            "architecture": ck.spec.describe() if ck.spec is not None else "(no spec)",
            "num_params": num_params(ck.params),
            "tensors": tensors,
            "meta": json.dumps(ck.meta, default=str),
            "splits": [],
        }
        if cfg.data is not None:
            la = load_checkpoint_with_data(cfg.checkpoint, cfg.data, cfg.mnist_dir, 0, cfg.device)
            out["splits"] = [
                _split_row(la, name, batch)
                for name, batch in (("train", la.dataset.train), ("test", la.dataset.test))
            ]
        return out


def _split_row(la: Any, split: str, batch: tuple) -> dict[str, Any]:
    m = dataset_mean(la.model.metrics, la.params, batch, chunk_size=4096)
    row: dict[str, Any] = {
        "split": split,
        "samples": int(batch[0].shape[0]),
        f"loss ({la.model.loss_name})": float(m["loss"]),
    }
    if "accuracy" in m:
        row["accuracy"] = float(m["accuracy"])
        row["error"] = 1.0 - float(m["accuracy"])
    return row


def tasks(cfg: Config) -> list:
    return [InspectTask(cfg.model_dump(mode="json"))]


def reduce(cfg: Config, results: Results) -> Summary:
    r = results[0][1]
    title = f"{cfg.checkpoint}: {r['architecture']}, {r['num_params']:,} parameters"
    tables = {title: r["tensors"]}
    if r["splits"]:
        tables[f"{r['architecture']} on {cfg.data}"] = r["splits"]
    notes = [f"meta: {r['meta']}"] if r["meta"] not in ("{}", "null") else []
    values = {"num_params": float(r["num_params"])}
    for row in r["tensors"]:
        if isinstance(row["norm"], int | float):
            values[f"norm.{row['tensor']}"] = row["norm"]
    for row in r["splits"]:
        loss = next(v for k, v in row.items() if k.startswith("loss"))
        values[f"{row['split']}_loss"] = loss
        if "accuracy" in row:
            values[f"{row['split']}_accuracy"] = row["accuracy"]
    return Summary(tables=tables, notes=notes, metrics=[(0, values)])


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    return {}
