"""``landscape connect``: one stated evaluation split for both checkpoints, symmetric in A, B."""

from __future__ import annotations

import re

import pytest

from landscape import checkpoint, models
from landscape.cli import main
from landscape.experiments.tools.connect import Config, evaluation_split


def _cfg(**kw) -> Config:
    return Config(a="a.ckpt", b="b.ckpt", data="digits", threshold=1.0, **kw)


def _meta(seed=None, name="digits"):
    return {} if seed is None else {"data": {"name": name, "seed": seed}}


def test_evaluation_split_is_symmetric_and_warns_when_records_differ():
    cfg = _cfg(seed=7)
    assert evaluation_split(cfg, _meta(3), _meta(3)) == (3, "recorded by both checkpoints", None)
    for ma, mb in ((_meta(1), _meta(2)), (_meta(2), _meta(1))):
        seed, why, warning = evaluation_split(cfg, ma, mb)
        assert seed == 7 and "no common split" in why
        assert "different data" in warning and "seed=7" in warning
    for ma, mb in ((_meta(4), _meta()), (_meta(), _meta(4))):
        seed, why, warning = evaluation_split(cfg, ma, mb)
        assert (seed, why) == (4, "recorded by one checkpoint") and warning is not None
    # another dataset's record does not choose the digits split
    assert evaluation_split(cfg, _meta(5, "mnist"), _meta(5, "mnist"))[0] == 7
    assert evaluation_split(_cfg(data_seed=9), _meta(1), _meta(2))[:2] == (9, "data_seed")
    with pytest.raises(ValueError):
        _cfg(data_seed=-1)


def _connect(a, b, store) -> str:
    code = main(
        [
            "connect",
            str(a),
            str(b),
            "--data",
            "digits",
            "--threshold",
            "5",
            "--method",
            "linear",
            "--store",
            str(store),
            "--quiet",
            "--set",
            "grid=9",
        ]
    )
    assert code == 0
    return code


def test_swapping_checkpoints_trained_on_different_splits_gives_the_same_numbers(tmp_path, capsys):
    spec = models.MLPSpec(in_features=64, widths=(6,), out_features=10)
    a = checkpoint.save(tmp_path / "a.ckpt", models.init_params(spec, 1), spec, meta=_meta(1))
    b = checkpoint.save(tmp_path / "b.ckpt", models.init_params(spec, 2), spec, meta=_meta(2))
    outs = []
    for first, second in ((a, b), (b, a)):
        with pytest.warns(UserWarning, match="different data"):
            _connect(first, second, tmp_path / f"{first.stem}.db")
        outs.append(capsys.readouterr().out)
    for out in outs:
        assert "digits split seed=0" in out and "for A and B" in out
    # the highest loss on the segment (an endpoint's, here) depends on the split: the same
    # segment, evaluated on one split, has the same maximum whichever end comes first
    peaks = [re.search(r"max_value\s*│\s*([-\d.e]+)", out).group(1) for out in outs]
    assert peaks[0] == peaks[1]
