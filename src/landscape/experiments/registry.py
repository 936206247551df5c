"""The one registry of experiments (reproduced papers) and tools; the CLI is generated from it.

Each entry names its module (imported lazily), its kind, a one-line summary, the paper it
reproduces, and the command-line options it adds to the common ones; an option sets the
config field of the same name. The choices an option accepts are read from the config's
own field (a ``Literal``), so help texts never fall behind the code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from .._errors import check_choice

__all__ = ["EXPERIMENTS", "Entry", "Option", "get_experiment", "papers", "tools"]


@dataclass(frozen=True)
class Option:
    """A command-line option (or positional argument) that sets one config field.

    Attributes:
        field: the config field it sets (dotted for nested fields).
        flag: ``"--name"``, or ``None`` for a positional argument.
        type: the Python type typer parses (``str``, ``int``, ``float``, ``bool``, ``Path``).
        help: one line.
        required: the command cannot run without it.
    """

    field: str
    flag: str | None
    type: type
    help: str
    required: bool = False


@dataclass(frozen=True)
class Entry:
    """One experiment or tool.

    Attributes:
        name: the command-line name.
        module: the module implementing it (``Config``, ``tasks``, ``reduce``, ``figures``).
        kind: ``"paper"`` (``landscape reproduce NAME``) or ``"tool"`` (``landscape NAME``).
        summary: one line for help texts.
        reference: the paper(s), for papers.
        options: command-specific options.
        presets: has ``configs/<name>/{quick,full}.yaml`` (``--full`` applies).
        parallel: its tasks may run in a process pool or on Ray (``--executor``).
    """

    name: str
    module: str
    kind: Literal["paper", "tool"]
    summary: str
    reference: str = ""
    options: tuple[Option, ...] = ()
    presets: bool = True
    parallel: bool = True

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


_MNIST = Option("mnist_dir", "--mnist-dir", Path, "Folder with the MNIST IDX files.")
_DATA_DIR = Option("data_dir", "--data-dir", Path, "Folder with the mnist/cifar10/ptb files.")
_DATA = Option("data", "--data", str, "Dataset to evaluate on.", required=True)
_CKPT = Option("checkpoint", None, Path, "A landscape checkpoint (.ckpt).", required=True)

_ENTRIES = (
    Entry(
        "spinglass",
        "landscape.experiments.papers.spinglass",
        "paper",
        "minima and saddles of the spherical H-spin glass against the complexity theory",
        "Choromanska et al. 2015; Auffinger, Ben Arous & Černý 2013",
    ),
    Entry(
        "choromanska",
        "landscape.experiments.papers.choromanska",
        "paper",
        "many ReLU nets per size: their test losses concentrate as size grows",
        "Choromanska et al. 2015, section 6",
        options=(Option("mnist_dir", "--mnist-dir", Path, "MNIST IDX folder (10×10)."),),
    ),
    Entry(
        "dauphin",
        "landscape.experiments.papers.dauphin",
        "paper",
        "critical points of a small MLP: the loss grows with the index",
        "Dauphin et al. 2014",
    ),
    Entry(
        "freeman-bruna",
        "landscape.experiments.papers.freeman_bruna",
        "paper",
        "level-set connectivity by Dynamic String Sampling",
        "Freeman & Bruna 2017",
        options=(
            Option("method", "--method", str, "The path finder."),
            Option("task", "--task", str, "The paper's problems or one workhorse network."),
            Option("data_dir", "--data-dir", Path, "Folder with the task's data files."),
            Option("protocol", "--protocol", str, "How the endpoints are trained."),
        ),
    ),
    Entry(
        "lazy",
        "landscape.experiments.papers.lazy",
        "paper",
        "λ_min(K̄) grows with width n; GD converges faster and moves less (lazy training)",
        "the seminar's simple model (Berner, Grohs, Kutyniok & Petersen 2021, §2)",
    ),
    Entry(
        "auer",
        "landscape.experiments.papers.auer",
        "paper",
        "one logistic neuron under the square loss: 2^d verified local minima",
        "Auer, Herbster & Warmuth 1996",
    ),
    Entry(
        "kawaguchi",
        "landscape.experiments.papers.kawaguchi",
        "paper",
        "an exponential unit from a spurious ReLU minimum: where L̃ goes and where θ ends",
        "Kawaguchi & Kaelbling 2019",
    ),
    Entry(
        "safran-shamir",
        "landscape.experiments.papers.safran_shamir",
        "paper",
        "spurious local minima of the Gaussian ReLU teacher–student: rate against k and width",
        "Safran & Shamir 2018",
    ),
    Entry(
        "controls",
        "landscape.experiments.papers.controls",
        "paper",
        "deep linear and quadratic nets (no poor minima) against ReLU nets, as numbers",
        "Kawaguchi 2016; Freeman & Bruna 2017; Venturi, Bandeira & Bruna 2019",
    ),
    Entry(
        "width-gap",
        "landscape.experiments.papers.width_gap",
        "paper",
        "two-layer ReLU nets: barriers between trained pairs shrink with width m",
        "Freeman & Bruna 2017, Theorem 2.5",
    ),
    Entry(
        "demo",
        "landscape.experiments.tools.demo",
        "tool",
        "train a small digits MLP ensemble in one batched pass, save the best, print a table",
    ),
    Entry(
        "theory",
        "landscape.experiments.tools.theory",
        "tool",
        "thresholds E_0(H) > E_1(H) > … > E_∞(H) and the complexity curves Θ_{k,H}(u)",
        "Auffinger, Ben Arous & Černý 2013",
        options=(
            Option("H", "--H", int, "Interaction order H ≥ 2."),
            Option("k_max", "--k-max", int, "Largest index k in the table."),
        ),
        presets=False,
        parallel=False,
    ),
    Entry(
        "inspect",
        "landscape.experiments.tools.inspect",
        "tool",
        "architecture and parameters of a checkpoint; with --data, its loss and accuracy",
        options=(
            _CKPT,
            Option("data", "--data", str, "Dataset to evaluate on."),
            _MNIST,
        ),
        presets=False,
        parallel=False,
    ),
    Entry(
        "hessian",
        "landscape.experiments.tools.hessian",
        "tool",
        "top eigenvalues, trace, spectral density and index of a checkpoint's Hessian",
        options=(
            _CKPT,
            _DATA,
            Option("top", "--top", int, "Largest eigenvalues to compute."),
            Option("trace", "--trace", bool, "Hutchinson trace ± stderr."),
            Option("density", "--density", bool, "SLQ spectral density (figure)."),
            Option("index", "--index", bool, "Number of negative eigenvalues."),
            Option("split", "--split", str, "Data split."),
            _DATA_DIR,
            _MNIST,
        ),
        presets=False,
        parallel=False,
    ),
    Entry(
        "connect",
        "landscape.experiments.tools.connect",
        "tool",
        "connect two checkpoints below a threshold: profile plot, table, string of beads",
        options=(
            Option("a", None, Path, "First checkpoint (θ_A).", required=True),
            Option("b", None, Path, "Second checkpoint (θ_B), same architecture.", required=True),
            _DATA,
            Option("threshold", "--threshold", float, "Level L0 of Ω(L0), > 0.", required=True),
            Option("method", "--method", str, "The path finder."),
            Option("measure", "--measure", str, "Threshold the loss, error or perplexity."),
            Option("align", "--align", bool, "Weight-match B to A first (MLPs, CNNs)."),
            _DATA_DIR,
            _MNIST,
        ),
        presets=False,
        parallel=False,
    ),
    *(
        Entry(
            _name,
            f"landscape.experiments.tools.{_name}",
            "tool",
            f"the loss on a {_what} through a checkpoint: surface.npz, directions.pt, figures",
            "Li et al. 2018",
            options=(
                _CKPT,
                _DATA,
                Option("directions", "--directions", str, "How the directions are made."),
                Option("trajectory", "--trajectory", Path, "Folder of checkpoints (PCA, overlay)."),
                Option("second", "--second", Path, "Second model of a three-model plane."),
                Option("third", "--third", Path, "Third model of a three-model plane."),
                Option("range", "--range", float, "Grid half-width R: [-R, R]."),
                Option("steps", "--steps", int, "Grid points per axis."),
                Option("zoom", "--zoom", str, "Ranges to repeat at, e.g. 1,0.1,0.01."),
                Option("bn", "--bn", str, "Batch norm: running statistics or recomputed."),
                Option("measure", "--measure", str, "What the pictures show."),
                _MNIST,
            ),
            presets=False,
        )
        for _name, _what in (("plane", "2-D plane"), ("line", "1-D line"))
    ),
    Entry(
        "surfaces",
        "landscape.experiments.papers.surfaces",
        "paper",
        "a ReLU MLP's minimum at four zoom levels; a residual CNN with and without skips",
        "Li et al. 2018",
        options=(Option("mnist_dir", "--mnist-dir", Path, "MNIST IDX folder (10×10)."),),
    ),
)

#: every experiment and tool by name
EXPERIMENTS: dict[str, Entry] = {e.name: e for e in _ENTRIES}


def papers() -> list[Entry]:
    """The reproduced papers, in registry order."""
    return [e for e in _ENTRIES if e.kind == "paper"]


def tools() -> list[Entry]:
    """The tools, in registry order."""
    return [e for e in _ENTRIES if e.kind == "tool"]


def get_experiment(name: str) -> Any:
    """The module implementing experiment or tool ``name``.

    Raises:
        LandscapeError: an unknown name (the message lists the known ones).
    """
    check_choice("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name].load()
