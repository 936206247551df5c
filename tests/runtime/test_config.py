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


def test_empty_override_value_is_rejected_not_ignored():
    for item in ("lr=", "lr=  ", "inner.lr="):
        with pytest.raises(ConfigError) as exc:
            parse_overrides([item])
        assert item.strip() in _one_line(exc) and "no value" in str(exc.value)
    with pytest.raises(ConfigError, match="no key"):
        parse_overrides(["=3"])


class Opt(StrictModel):
    n: int | None = 5
    lr: float = Field(default=0.1, gt=0)


def test_null_override_sets_none():
    assert load_config(Opt, None, parse_overrides(["n=null"])).n is None
    assert load_config(Opt, None, parse_overrides(["n=~"])).n is None
    assert load_config(Opt, None, {"n": None}).n == 5  # an unset flag changes nothing


@pytest.mark.parametrize("raw", [".inf", "-.inf", ".nan", "inf", "nan"])
def test_non_finite_floats_are_rejected(raw):
    with pytest.raises(ConfigError) as exc:
        load_config(Opt, None, parse_overrides([f"lr={raw}"]))
    assert "lr" in _one_line(exc) and "finite" in str(exc.value)


def test_binary_config_file(tmp_path):
    f = tmp_path / "c.bin"
    f.write_bytes(b"epochs: 3\n\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    with pytest.raises(ConfigError) as exc:
        load_config(Cfg, f)
    assert str(f) in _one_line(exc) and "not a YAML text file" in str(exc.value)
    g = tmp_path / "c.nul"
    g.write_bytes(b"epochs: 3\x00\x00")
    with pytest.raises(ConfigError, match="NUL"):
        load_config(Cfg, g)


def test_list_items_are_named_by_index():
    class Sizes(StrictModel):
        sizes: list[int] = Field(default_factory=lambda: [1])

    with pytest.raises(ConfigError) as exc:
        load_config(Sizes, None, {"sizes": [1, "x"]})
    assert "sizes[1]" in _one_line(exc) and "'x'" in str(exc.value)
