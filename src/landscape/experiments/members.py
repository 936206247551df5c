"""One task type for "train E members of a model from seeds", with one seed scheme.

Member ``i`` of group ``g`` (a hidden size, a pair of endpoints, …) of a run with seed ``s``
starts from ``init(member_seed(s, g, i))`` and visits the data in the order of the same
seed, so a member's result does not depend on how members are chunked into tasks, on the
executor, or on which other members are trained beside it. The experiment supplies the
problem (model, data, optimiser, epochs) through ``members_problem(config, group)``; the
task trains its members as one batched ensemble (:func:`~landscape.ensemble.train_ensemble`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import LandscapeError
from ..ensemble import train_ensemble
from ..evaluate import PureFn
from ..functional import Batch
from ..optim import Optimizer, Schedule
from ..params import Params, stack
from ..runtime.store import task_key
from .lifecycle import MAX_TASKS

__all__ = ["MembersProblem", "MembersTask", "chunks", "gather", "member_seed"]


def member_seed(seed: int, group: int, index: int) -> int:
    """A deterministic, well-mixed seed for member ``index`` of ``group`` in a run."""
    return int(np.random.SeedSequence([seed, group, index]).generate_state(1)[0])


@dataclass(frozen=True)
class MembersProblem:
    """What to train: the experiment's answer to ``members_problem(config, group)``.

    Attributes:
        init: ``init(seed) -> params`` of one member.
        loss: pure ``loss(params, batch)`` the members descend.
        train: training ``(x, y)``.
        optimizer, epochs, batch_size, schedule: as :func:`~landscape.ensemble.train_ensemble`.
        eval_data, metrics: evaluated every epoch (``test_*`` in the history).
        keep: what the task returns besides seeds and divergence: ``"final"`` (the last
            row of every history metric, ``final.<name>``), ``"history"`` (all rows,
            ``history.<name>``), ``"params"`` (the trained parameters, ``param.<name>``).
        track: evaluate the metrics every epoch (off: only ``after`` is evaluated).
        after: ``after(stacked params) -> {name: (E,) tensor}`` evaluated once at the end,
            returned as ``final.<name>``.
    """

    init: Callable[[int], Params]
    loss: PureFn
    train: Batch
    optimizer: Optimizer
    epochs: int
    batch_size: int | None = None
    schedule: Schedule | None = None
    eval_data: Batch | None = None
    metrics: Callable[..., Any] | None = None
    keep: tuple[str, ...] = ("final",)
    track: bool = True
    after: Callable[[Params], dict[str, Any]] | None = None


@dataclass(frozen=True)
class MembersTask:
    """Train members ``first .. first + count − 1`` of ``group`` in one batched computation.

    Attributes:
        experiment: the registry name of the experiment that defines ``members_problem``.
        config: its config (JSON).
        group: an integer that names the group in seeds and keys (e.g. the hidden size).
        first, count: which members.
    """

    experiment: str
    config: dict
    group: int
    first: int
    count: int

    @property
    def key(self) -> str:
        return task_key(group=self.group, first=self.first)

    def seeds(self) -> list[int]:
        seed = int(self.config.get("seed", 0))
        return [member_seed(seed, self.group, self.first + i) for i in range(self.count)]

    def run(self) -> dict[str, Any]:
        from .registry import get_experiment

        module = get_experiment(self.experiment)
        prob: MembersProblem = module.members_problem(
            module.Config.model_validate(self.config), self.group
        )
        seeds = self.seeds()
        n = prob.train[0].shape[0]
        res = train_ensemble(
            prob.loss,
            stack([prob.init(s) for s in seeds]),
            prob.train,
            prob.optimizer,
            prob.epochs,
            batch_size=None if prob.batch_size is None else min(prob.batch_size, n),
            seeds=seeds,
            schedule=prob.schedule,
            eval_data=prob.eval_data,
            metrics=prob.metrics,
            track=prob.track,
        )
        out: dict[str, Any] = {
            "seeds": np.asarray(seeds, dtype=np.int64),
            "diverged": res.diverged.cpu().numpy(),
        }
        if "final" in prob.keep:
            out.update({f"final.{k}": v[-1].cpu().numpy() for k, v in res.history.items()})
        if "history" in prob.keep:
            out.update({f"history.{k}": v.cpu().numpy() for k, v in res.history.items()})
        if prob.after is not None:
            out.update({f"final.{k}": v.cpu().numpy() for k, v in prob.after(res.params).items()})
        if "params" in prob.keep:
            out.update({f"param.{k}": v.detach().cpu().numpy() for k, v in res.params.items()})
        return out


def chunks(
    experiment: str, config: dict, group: int, members: int, per_task: int
) -> list[MembersTask]:
    """``members`` of ``group`` split into tasks of at most ``per_task``.

    Raises:
        LandscapeError: more than :data:`MAX_TASKS` tasks (checked before any is built).
    """
    count = -(-int(members) // max(1, int(per_task)))
    if count > MAX_TASKS:
        raise LandscapeError(
            f"{experiment}: {members:,} members in tasks of {per_task:,} make {count:,} tasks, "
            f"more than the {MAX_TASKS:,} a run may hold; raise the members per task or "
            "train fewer members"
        )
    return [
        MembersTask(experiment, config, group, first, min(per_task, members - first))
        for first in range(0, members, per_task)
    ]


def gather(results: list[tuple[Any, dict[str, Any]]], group: int) -> dict[str, np.ndarray]:
    """The results of one group's tasks, concatenated along the member axis.

    Arrays with a member axis last (``history.*``: ``(epochs + 1, E)``) are joined on it;
    the others on their first axis.
    """
    parts = [r for t, r in results if isinstance(t, MembersTask) and t.group == group]
    return {
        k: np.concatenate([p[k] for p in parts], axis=1 if k.startswith("history.") else 0)
        for k in parts[0]
    }
