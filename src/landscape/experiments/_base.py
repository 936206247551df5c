"""What every experiment shares: the config base, presets, devices, checkpoints with data."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator

from .._errors import CheckpointError, LandscapeError, check_choice, short
from .._validate import MAX_SEED
from ..runtime.config import StrictModel, load_config, read_yaml

__all__ = [
    "ExperimentConfig",
    "build_config",
    "data_options",
    "load_checkpoint_with_data",
    "preset",
    "resolve_device",
    "torch_dtype",
]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class ExperimentConfig(StrictModel):
    """Fields every experiment config has.

    ``seed`` is an integer in ``0 .. MAX_SEED`` (2³² − 1).
    """

    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    device: str = "cpu"
    dtype: Literal["float32", "float64"] = "float32"

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        try:
            torch.device(v)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"'{v}' is not a torch device; use 'cpu', 'cuda' or 'cuda:N'"
            ) from None
        return v


class MnistOrDigitsConfig(ExperimentConfig):
    """An experiment that runs on MNIST when given its files, else on the bundled digits.

    ``dataset``: ``auto`` uses MNIST when ``mnist_dir`` is given, else the bundled digits.
    ``mnist_dir``: the folder with the four MNIST IDX files.
    """

    dataset: Literal["auto", "digits", "mnist"] = "auto"
    mnist_dir: str | None = None

    @property
    def uses_mnist(self) -> bool:
        return self.dataset == "mnist" or (self.dataset == "auto" and bool(self.mnist_dir))

    @model_validator(mode="after")
    def _dataset(self) -> MnistOrDigitsConfig:
        if self.dataset == "mnist" and not self.mnist_dir:
            raise ValueError("dataset 'mnist' needs mnist_dir (the folder with the IDX files)")
        if self.dataset == "digits" and self.mnist_dir:
            raise ValueError(
                "mnist_dir does nothing with dataset 'digits' (the bundled digits are used); "
                "drop one of them"
            )
        return self


def refuse_unused(config: StrictModel, rules: dict[str, tuple[bool, str]]) -> None:
    """Every option either acts or is refused: an option given a value other than its
    default whose rule says it does not apply here is an error naming it and when it
    applies. (A default is what happens anyway, so it is never refused; that also lets a
    recorded config, which holds every field, validate again.) Call from a config's
    ``model_validator(mode="after")``.

    Args:
        config: the validated config.
        rules: option → ``(applies, when it applies)``.

    Raises:
        ValueError: an option given that does nothing with these settings.
    """
    fields = type(config).model_fields
    for name, (applies, when) in rules.items():
        if applies:
            continue
        default = fields[name].get_default(call_default_factory=True)
        if getattr(config, name) != default:
            raise ValueError(f"{name} does nothing here: it applies {when}")


def data_folder_rules(
    data: str | None, folders: tuple[str, ...] = ("data_dir", "mnist_dir")
) -> dict[str, tuple[bool, str]]:
    """The :func:`refuse_unused` rules of the dataset-folder options for ``--data data``."""
    files = ", ".join(FILE_DATASETS)
    when = (
        f"to --data {files} (read from files), not to {data}"
        if data is not None
        else f"with --data {files} (read from files); here no --data is given"
    )
    rules = {f: (data in FILE_DATASETS, when) for f in folders}
    if "data_dir" in folders and "mnist_dir" in folders:
        rules["mnist_dir"] = (
            data == "mnist",
            "to --data mnist only (the older name of --data-dir for MNIST)",
        )
    return rules


def one_data_folder(data_dir: str | None, mnist_dir: str | None) -> None:
    """``data_dir`` and its older name ``mnist_dir`` are not both given.

    Raises:
        ValueError: both are (for a config's ``model_validator``).
    """
    if data_dir and mnist_dir:
        raise ValueError("give the data folder once: data_dir (mnist_dir is its old name)")


def torch_dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device, checked to exist.

    Raises:
        LandscapeError: CUDA asked for but not available.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LandscapeError(
            f"device={device!r} requested but CUDA is not available here; use 'cpu'"
        )
    if dev.type not in ("cpu", "cuda", "mps"):
        raise LandscapeError(f"device={device!r} is not supported; use 'cpu' or 'cuda'")
    return dev


@dataclass
class Loaded:
    """A checkpoint ready to evaluate: its dataset, pure model and parameters."""

    checkpoint: Any
    dataset: Any
    model: Any
    params: dict


def load_checkpoint_with_data(
    path: str | os.PathLike,
    data_name: str,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> Loaded:
    """Load a checkpoint (with a model spec) and the dataset it is evaluated on.

    The dataset seed (its train/test split) is the one recorded in the checkpoint's meta
    when it names the same dataset, else ``seed``. The loss is the checkpoint's, else the
    dataset's natural one.

    ``data_dir`` is the folder of the user's files for ``mnist`` (IDX), ``cifar10``
    (binary batches) and ``ptb`` (``ptb.*.txt``). How they are read follows the model and
    the checkpoint's recorded data options (:func:`data_options`): MNIST at the model's
    image side (28: full size), CIFAR-10 standardized as recorded (default per channel, as
    ``reproduce freeman-bruna`` trains), PTB in the recorded ``batch_size``/``bptt``
    windows (default 20 × 35) with the vocabulary checked against the model's.

    Raises:
        LandscapeError: no spec, a file-based dataset without a folder, or a dataset that
            does not fit the model (input size, or vocabulary for a language model).
    """
    from .. import checkpoint, data
    from ..functional import FunctionalModel

    dev = resolve_device(device)
    ck = checkpoint.load(path)
    if ck.spec is None:
        raise LandscapeError(f"{path} has no model spec; save it with landscape.checkpoint.save")
    not_float = [
        f"{k} ({str(v.dtype).removeprefix('torch.')})"
        for k, v in ck.params.items()
        if not v.is_floating_point()
    ]
    if not_float:
        raise CheckpointError(
            f"{path}: tensors {', '.join(not_float[:3])}{' …' if len(not_float) > 3 else ''} "
            "are not floating point, so the model cannot be evaluated; save float32 or "
            "float64 parameters (landscape inspect without --data still lists them)"
        )
    dtype = dtype or next(iter(ck.params.values())).dtype
    saved = ck.meta.get("data") if isinstance(ck.meta.get("data"), dict) else {}
    if saved.get("name") == data_name and "seed" in saved:
        seed = _meta_seed(path, saved["seed"])
    opts = data_options(
        ck.spec, data_name, data_dir, saved if saved.get("name") == data_name else {}
    )
    ds = data.load(data_name, seed=seed, dtype=dtype, **opts).to(dev)
    if getattr(ck.spec, "kind", None) == "lstm" or ds.task == "language-model":
        if getattr(ck.spec, "kind", None) != "lstm" or ds.task != "language-model":
            raise LandscapeError(
                f"dataset {data_name!r} ({ds.task}) does not fit the model "
                f"({ck.spec.describe()}): language models go with --data ptb"
            )
        if ds.num_classes != ck.spec.vocab_size:
            raise LandscapeError(
                f"dataset {data_name!r} has a vocabulary of {ds.num_classes} words but the "
                f"model ({ck.spec.describe()}) has {ck.spec.vocab_size}; use the files it was "
                "trained on"
            )
    else:
        expected = getattr(ck.spec, "in_features", None)
        if expected is None:  # a CNN: channels × side²
            expected = ck.spec.in_channels * ck.spec.image_size**2
        if ds.in_features != expected:
            raise LandscapeError(
                f"dataset {data_name!r} has {ds.in_features} input features but the model "
                f"({ck.spec.describe()}) expects {expected}"
            )
    try:
        fm = FunctionalModel(ck.build(device=dev).to(dtype), loss=ck.meta.get("loss", ds.loss))
    except LandscapeError as err:
        if "loss" not in ck.meta:
            raise
        raise CheckpointError(f"{path}: its meta names a loss this cannot use: {err}") from None
    params = {k: v.to(device=dev, dtype=dtype) for k, v in ck.params.items()}
    return Loaded(ck, ds, fm, params)


FILE_DATASETS = {"mnist": "the IDX files", "cifar10": "the .bin files", "ptb": "ptb.*.txt"}


def data_options(
    spec: Any, data_name: str, data_dir: str | os.PathLike | None, recorded: dict | None = None
) -> dict[str, Any]:
    """Loader options for evaluating a model of ``spec`` on ``data_name``.

    ``recorded`` is the checkpoint's ``meta["data"]`` for this dataset (its options win
    over the defaults). MNIST is read at the model's image side (``size=None`` for 28).

    Raises:
        LandscapeError: a file-based dataset without ``data_dir``.
    """
    recorded = recorded or {}
    if data_name not in FILE_DATASETS:
        return {}
    if not data_dir:
        raise LandscapeError(
            f"--data {data_name} needs --data-dir DIR (the folder with {FILE_DATASETS[data_name]})"
        )
    opts: dict[str, Any] = {"directory": str(data_dir)}
    if data_name == "mnist":
        side = getattr(spec, "image_size", None)
        if side is None and getattr(spec, "in_features", None):
            side = round(spec.in_features**0.5)
        opts["size"] = None if side in (None, 28) else side
    elif data_name == "cifar10":
        opts["standardize"] = recorded.get("standardize", "channel")
    else:
        for key, default in (("batch_size", 20), ("bptt", 35), ("test_split", "test")):
            opts[key] = recorded.get(key, default)
    return opts


def _meta_seed(path: str | os.PathLike, value: Any) -> int:
    """The data seed recorded in a checkpoint's meta, checked like a config seed."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise CheckpointError(
            f"{path}: meta data.seed={short(value, 40)} is not an integer in 0..{MAX_SEED}; "
            "fix the checkpoint's meta (it sets the dataset's train/test split)"
        )
    return value


def preset(name: str, size: Literal["quick", "full"]) -> dict[str, Any]:
    """The YAML preset ``configs/<name>/<size>.yaml`` shipped with the package ({} if none)."""
    check_choice("preset", size, ("quick", "full"))
    path = CONFIG_DIR / name / f"{size}.yaml"
    return read_yaml(path) if path.is_file() else {}


def build_config(
    name: str,
    size: Literal["quick", "full"] = "quick",
    path: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> StrictModel:
    """Preset ← YAML file ← overrides, validated by the experiment's ``Config``."""
    from .registry import get_experiment

    module = get_experiment(name)
    return load_config(module.Config, path, overrides, base=preset(name, size))
