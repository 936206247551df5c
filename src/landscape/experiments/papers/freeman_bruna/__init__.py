"""``landscape reproduce freeman-bruna``: connectivity and curviness of level sets.

Freeman & Bruna 2017, *Topology and Geometry of Half-Rectified Network Optimization*:
pairs of independently trained models are joined by Dynamic String Sampling below a
threshold ``L0``; the normalized geodesic length of the string (weights only, as in
their figures) and its number of beads are recorded against ``L0``. Claim: the lower the
level, the longer and more curved the string (their Fig. 2–4: polynomial regression,
CNN/MNIST, CNN/CIFAR-10, LSTM/PTB), with lengths staying close to 1 for the networks.

``--task paper`` (default) runs three parts:

1. 1-4-4-1 sigmoid MLPs on the quadratic and cubic polynomial regressions (mean
   absolute error; weights U[−1, 1], biases N(0, 1), Adam) — or the bias-free variant
   with a sigmoid output unit used for their published quadratic figures;
2. a digits MLP with thresholds on test error (beads descend the cross-entropy);
3. the symmetry example of their section 2: two parameter vectors of a two-unit ReLU
   net with zero empirical risk whose midpoint has risk 1/2, profiled by the library.

``--task mnist-cnn | cifar10-cnn | ptb-lstm`` runs one workhorse network on the user's
files (``--data-dir``): small CNNs with thresholds on the test error, an LSTM language model
with thresholds on the test perplexity; without ``--data-dir`` the CNN runs on the bundled
digits and the LSTM on a small generated corpus. Their beads and endpoints are trained by
minibatch Adam with the threshold checked on the first ``eval_size`` test samples, and the
strings are confirmed on the whole test split at the end.

Protocol (``protocol``): ``to-threshold`` (default) is their Algorithm 1 — for every ``L0``
the two ends of each pair are trained from fresh seeds until their thresholded quantity
first reaches ``L0`` (an Adam run stopped there, with a step budget), so every pair sits on
the level set it is connected in; ``fixed-steps`` trains each pair once for the budget and
reuses it at every ``L0`` both ends are below (the ends then lie far below most levels and
the strings come out nearly straight).

The main table has one row per (problem, ``L0``): the protocol, pairs whose ends reached
``L0`` and pairs connected, the ends' mean level and training loss, the mean and std of the
normalized geodesic length (weights only) and of the bead count, the straight segment's
mean maximum (the barrier DSS goes around) and, for subset checks, the strings' largest
value on the whole test split. A second table lists the (pair, ``L0``) left out and why; a
third gives the symmetry example's risks (0, 0 and 1/2 at the midpoint).
"""

from __future__ import annotations

import numpy as np

from ....connect import Profile
from ...lifecycle import Results, Summary
from .config import Config, DigitsConfig, PolyConfig, WorkhorseConfig
from .problems import GROUPS, Problem, get_problem, problems
from .sweep import ConnectTask, EndpointsTask, connect_pair, pending, train_endpoints
from .symmetry import SYMMETRY_SPEC, THETA, THETA_BAR, symmetry_example, symmetry_params

__all__ = [
    "GROUPS",
    "NAME",
    "SYMMETRY_SPEC",
    "THETA",
    "THETA_BAR",
    "Config",
    "ConnectTask",
    "DigitsConfig",
    "EndpointsTask",
    "PolyConfig",
    "Problem",
    "WorkhorseConfig",
    "connect_pair",
    "figures",
    "get_problem",
    "more_tasks",
    "reduce",
    "symmetry_example",
    "symmetry_params",
    "tasks",
    "train_endpoints",
]

NAME = "freeman-bruna"
TASKS_LABEL = "training endpoints"
MORE_LABEL = "DSS (pair × threshold)"


def _thresholds(cfg: Config, p: str) -> list[float]:
    from .sweep import _sweep_shape

    return _sweep_shape(cfg, p)[0]


def check(cfg: Config) -> None:
    """Load each problem once before the run, so a bad data folder fails in one line."""
    for p in problems(cfg):
        get_problem(cfg, p)


def tasks(cfg: Config) -> list:
    """Phase 1: the endpoints, per (problem, ``L0``) or, with ``fixed-steps``, per problem."""
    conf = cfg.model_dump(mode="json")
    if cfg.protocol == "fixed-steps":
        return [EndpointsTask(conf, p, -1) for p in problems(cfg)]
    return [
        EndpointsTask(conf, p, j) for p in problems(cfg) for j in range(len(_thresholds(cfg, p)))
    ]


def more_tasks(cfg: Config, results: Results) -> list:
    """Phase 2, once: DSS between the two ends of every pair that reached each ``L0``."""
    if any(isinstance(t, ConnectTask) for t, _ in results):
        return []
    return pending(cfg, results)[0]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _endpoint_stats(cfg: Config, results: Results, p: str, j: int) -> dict:
    level = j if cfg.protocol == "to-threshold" else -1
    r = next(
        (
            r
            for t, r in results
            if isinstance(t, EndpointsTask) and (t.problem, t.level) == (p, level)
        ),
        None,
    )
    if r is None:
        return {}
    return {
        "ends level mean": float(np.mean(r["level"])),
        "ends train loss mean": float(np.mean(r["train_loss"])),
        "ends steps": int(r["steps"]),
    }


def _sweep_rows(cfg: Config, results: Results, p: str) -> tuple[list[dict], np.ndarray, np.ndarray]:
    done = [(t, r) for t, r in results if isinstance(t, ConnectTask) and t.problem == p]
    ths = _thresholds(cfg, p)
    pairs = len({t.pair for t, _ in done}) or 1
    npairs = max([t.pair for t, _ in done], default=pairs - 1) + 1
    L = np.full((npairs, len(ths)), np.nan)
    C = np.full_like(L, np.nan)
    rows = []
    for j, L0 in enumerate(ths):
        tried = [(t, r) for t, r in done if t.threshold == L0]
        conn = [(t, r) for t, r in tried if r["connected"]]
        for t, r in conn:
            L[t.pair, j], C[t.pair, j] = r["length_weights"], r["beads"]
        lw = [r["length_weights"] for _, r in conn]
        bc = [r["beads"] for _, r in conn]
        row = {
            "problem": p,
            "protocol": cfg.protocol,
            "L0": L0,
            "pairs at L0": len(tried),
            "connected": len(conn),
            **_endpoint_stats(cfg, results, p, j),
            "length (weights) mean": _mean(lw),
            "std": float(np.std(lw)) if lw else float("nan"),
            "beads mean": _mean([float(b) for b in bc]),
            "beads std": float(np.std(bc)) if bc else float("nan"),
            "straight-line max mean": _mean([r["line_max"] for _, r in tried]),
        }
        full = [r["max_value_full"] for _, r in conn if "max_value_full" in r]
        if full:
            row["string max (full test) worst"] = float(max(full))
            row["confirmed (full test)"] = sum(v <= L0 for v in full)
        rows.append(row)
    return rows, L, C


def _mean_or_none(v: np.ndarray) -> float | None:
    return float(np.nanmean(v)) if np.isfinite(v).any() else None


def reduce(cfg: Config, results: Results) -> Summary:
    """Lengths and bead counts per threshold; pairs left out; the symmetry example."""
    _, left_out = pending(cfg, results)
    rows, lengths, counts, examples, metrics = [], {}, {}, {}, []
    for p in problems(cfg):
        prow, lengths[p], counts[p] = _sweep_rows(cfg, results, p)
        rows += prow
        conn = [
            (t.threshold, r)
            for t, r in results
            if isinstance(t, ConnectTask) and t.problem == p and r["connected"]
        ]
        if conn:
            examples[p] = min(conn, key=lambda c: c[0])  # the lowest threshold connected
        metrics += [
            (j, {f"{p}.length_weights_mean": _mean_or_none(lengths[p][:, j]),
                 f"{p}.beads_mean": _mean_or_none(counts[p][:, j])})
            for j in range(lengths[p].shape[1])
        ]  # fmt: skip
    title = f"DSS connectivity ({cfg.method}, α={cfg.alpha}, endpoints {cfg.protocol})"
    tables = {title: rows}
    if left_out:
        tables["pairs left out (endpoints not at L0)"] = left_out
    arrays, data = {}, {"rows": rows, "lengths": lengths, "counts": counts,
                        "examples": examples, "left_out": left_out}  # fmt: skip
    if cfg.task == "paper":
        sym = symmetry_example()
        metrics.append(
            (
                0,
                {
                    f"symmetry.{k}": sym[k]
                    for k in ("risk_theta", "risk_theta_bar", "risk_midpoint")
                },
            )
        )
        tables[
            "symmetry example: Φ(x,θ) = θ1 relu(θ3x+θ5) + θ2 relu(θ4x+θ6) on {(−1,0), (1,1)}"
        ] = [
            {"point": "θ = (1,−1,1,1,1,0)", "empirical risk": sym["risk_theta"]},
            {"point": "θ̄ = (−1,1,1,1,0,1)", "empirical risk": sym["risk_theta_bar"]},
            {"point": "(θ + θ̄)/2", "empirical risk": sym["risk_midpoint"]},
        ]
        interp = sym["interpolation"]
        arrays["symmetry"] = {"t": interp.t, "risk": interp.loss}
        data["symmetry"] = sym
    return Summary(tables=tables, metrics=metrics, arrays=arrays, data=data)


_LABELS = {
    "quadratic": "MAE",
    "cubic": "MAE",
    "digits": "test error",
    "mnist-cnn": "test error",
    "cifar10-cnn": "test error",
    "ptb-lstm": "test perplexity",
}


def figures(cfg: Config, results: Results, summary: Summary) -> dict:
    """Length and beads against L0 per problem group; one string each; the symmetry line."""
    from ....plots.connect import plot_interpolation, plot_path_profile, plot_threshold_sweep

    out, probs = {}, problems(cfg)
    groups = [list(cfg.polynomial.problems), ["digits"]] if cfg.task == "paper" else [probs]
    for group in groups:
        group = [p for p in group if p in probs]
        if not group:
            continue
        label = f"{_LABELS[group[0]]} threshold L0"
        fig = plot_threshold_sweep(
            _thresholds(cfg, group[0]),
            {p: summary.data["lengths"][p] for p in group},
            {p: summary.data["counts"][p] for p in group},
            length_label="normalized geodesic length (weights only)",
            invert_x=True,
            title=f"Dynamic String Sampling ({cfg.method}, endpoints {cfg.protocol}): "
            + ", ".join(group)
            + f" — {label}, mean ± std over pairs",
        )
        caption = f"normalized geodesic length and bead count against {label}"
        out["sweep_" + "_".join(group).replace("-", "_")] = (fig, caption)
    for p, (L0, r) in summary.data["examples"].items():
        mname = _LABELS[p]
        fig = plot_path_profile(
            Profile.from_arrays(r, mname),
            threshold=L0,
            title=f"{p}: DSS string at L0 = {L0:g} ({r['beads']} beads; lowest L0 connected)",
        )
        out[f"string_{p.replace('-', '_')}"] = (
            fig,
            f"{mname} along a DSS string of {p} at L0 = {L0:g}",
        )
    if "symmetry" in summary.data:
        fig = plot_interpolation(
            summary.data["symmetry"]["interpolation"],
            title="Symmetry example: risk along (1−t)θ + tθ̄ (both zero risk; midpoint 1/2)",
        )
        out["symmetry"] = (fig, "risk along the straight line between θ and its permutation θ̄")
    return out
