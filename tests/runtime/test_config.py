from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field

from landscape import ConfigError
from landscape.runtime.config import StrictModel, load_config, parse_overrides


class Inner(StrictModel):
    lr: float = Field(default=0.1, gt=0)


class Cfg(StrictModel):
    epochs: int = Field(default=3, ge=1)
    sizes: list[int] = Field(default_factory=lambda: [25, 50])
    optimizer: Literal["sgd", "adam"] = "sgd"
    inner: Inner = Inner()


def test_file_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 5\nsizes: [1, 2, 3]\ninner:\n  lr: 0.5\n")
    cfg = load_config(Cfg, f, parse_overrides(["epochs=7", "inner.lr=1e-3"]))
    assert cfg.epochs == 7 and cfg.sizes == [1, 2, 3] and cfg.inner.lr == 1e-3
    base = load_config(Cfg, None, {"optimizer": "adam", "epochs": None}, base={"epochs": 9})
    assert base.optimizer == "adam" and base.epochs == 9


def _one_line(exc):
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_unknown_key_names_it_and_lists_allowed(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epoch: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, f)
    text = _one_line(exc)
    assert "unknown key 'epoch'" in text and "epochs" in text and str(f) in text


def test_bad_values(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, None, {"epochs": 0})
    assert "epochs" in _one_line(exc) and "0" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, None, {"optimizer": "rmsprop"})
    assert "optimizer" in _one_line(exc) and "'sgd'" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, None, {"inner": {"lr": -1}})
    assert "inner.lr" in _one_line(exc)


def test_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Cfg, tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Cfg, bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Cfg, lst)
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["epochs"])
