"""Every shipped preset validates, and the quick ones are smaller than the full ones."""

from __future__ import annotations

import pytest

from landscape import ConfigError
from landscape.experiments import EXPERIMENTS, build_config, preset
from landscape.experiments.registry import papers

REPRODUCED = ["spinglass", "choromanska", "dauphin", "freeman-bruna", "demo"]


def test_every_paper_in_the_registry_ships_both_presets():
    for entry in papers():
        assert entry.presets, entry.name
        quick, full = build_config(entry.name, "quick"), build_config(entry.name, "full")
        assert quick != full, entry.name


@pytest.mark.parametrize("name", REPRODUCED)
def test_presets_validate(name):
    assert name in EXPERIMENTS
    assert preset(name, "quick") and preset(name, "full")
    quick, full = build_config(name, "quick"), build_config(name, "full")
    assert quick != full


def test_full_presets_are_the_papers_sizes():
    sg = build_config("spinglass", "full")
    assert sg.H == 3 and sg.sizes == [25, 50, 100, 250, 500] and sg.replicas == 1000
    ch = build_config("choromanska", "full")
    assert ch.sizes == [25, 50, 100, 250, 500] and ch.runs == 1000 and ch.epochs == 200
    assert ch.init == "uniform" and ch.init_scale == 1.0
    fb = build_config("freeman-bruna", "full")
    assert fb.polynomial.n_train == 10_000 and fb.alpha == 0.95


def test_unknown_nested_key_is_rejected():
    with pytest.raises(ConfigError, match=r"unknown key 'polynomial\.pair'"):
        build_config("freeman-bruna", overrides={"polynomial": {"pair": 3}})
