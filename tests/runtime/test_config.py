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


# ---------------------------------------------------------------- strict typing (issue 21, 8)


class Typed(StrictModel):
    k_max: int = 3
    lr: float = 0.1
    flag: bool = False
    sizes: list[int] = Field(default=[1, 2])
    either: int | bool = 0


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"k_max": True}, "k_max"),
        ({"lr": False}, "lr"),
        ({"sizes": [1, True]}, "sizes[1]"),
    ],
)
def test_a_boolean_is_never_taken_for_a_number(raw, where):
    import re

    with pytest.raises(ConfigError, match=re.escape(where) + " must be a number, got a boolean"):
        load_config(Typed, overrides=raw)


def test_booleans_stay_where_they_belong():
    cfg = load_config(Typed, overrides={"flag": True, "either": True, "k_max": 2, "lr": 1})
    assert cfg.flag is True and cfg.either is True and cfg.k_max == 2 and cfg.lr == 1.0


def test_set_true_for_an_int_is_an_error_from_the_command_line():
    with pytest.raises(ConfigError, match="k_max must be a number"):
        load_config(Typed, overrides=parse_overrides(["k_max=true"]))


def test_a_yaml_key_given_twice_is_an_error(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("lr: 0.1\nk_max: 2\nlr: 0.5\n")
    with pytest.raises(ConfigError, match=r"key 'lr' is given twice \(lines 1 and 3\)"):
        load_config(Typed, path)
    nested = tmp_path / "nested.yaml"
    nested.write_text("a:\n  b: 1\n  b: 2\n")
    with pytest.raises(ConfigError, match="'b' is given twice"):
        load_config(Typed, nested)


def test_a_key_given_twice_on_the_command_line_is_an_error():
    from landscape.runtime.config import merge_flags

    with pytest.raises(ConfigError, match="k_max twice"):
        parse_overrides(["k_max=2", "k_max=3"])
    with pytest.raises(ConfigError, match="twice"):
        parse_overrides(["a=1", "a.b=2"])
    with pytest.raises(ConfigError, match=r"H is given twice: by its flag \(--H 4\)"):
        merge_flags(parse_overrides(["H=7"]), {"H": 4})
    assert merge_flags(parse_overrides(["lr=1"]), {"H": 4, "other": None}) == {"lr": 1, "H": 4}


def test_cli_flag_and_set_of_one_key_is_refused(capsys):
    from landscape.cli import main

    assert main(["theory", "--H", "4", "--set", "H=7", "--store", "s.db"]) == 1
    assert "H is given twice" in capsys.readouterr().err


# ---------------------------------------------------------------- bounded input (issue 21, 12)


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    import time

    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert path.stat().st_size < 500  # 9⁹ ≈ 3.9e8 strings once expanded
    t = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        load_config(Typed, path)
    assert time.perf_counter() - t < 5.0
    flow = ["&a0 [1,1,1,1,1,1,1,1,1]"]  # the same bomb in one --set value (flow style)
    for i in range(1, 9):
        flow.append(f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    t = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 100,000 values"):
        parse_overrides(["sizes=[" + ", ".join(flow) + "]"])
    assert time.perf_counter() - t < 5.0


def test_an_oversized_config_file_is_refused_unread(tmp_path, monkeypatch):
    from landscape.runtime import config as config_mod

    path = tmp_path / "big.yaml"
    path.write_text("lr: 0.1\n" + "# padding\n" * 200_000)  # ~2 MB
    read = []
    monkeypatch.setattr(type(path), "read_text", lambda self, *a, **k: read.append(self) or "")
    with pytest.raises(ConfigError, match=r"MiB, more than the 1 MiB limit for a config file"):
        config_mod.read_yaml(path)
    assert read == []


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_a_config_that_is_not_a_regular_file_is_named(tmp_path, kind):
    import os

    path = {"directory": tmp_path, "fifo": tmp_path / "p", "device": "/dev/zero"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(ConfigError, match=r"is a (directory|FIFO|character device)"):
        load_config(Typed, path)


def test_a_huge_value_or_key_is_echoed_short():
    huge = "x" * 100_000
    for overrides in ({huge: 1}, {"k_max": huge}):
        with pytest.raises(ConfigError) as info:
            load_config(Typed, overrides=overrides)
        assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("raw", "what"),
    [({"k_max": 3.0}, "got a float"), ({"k_max": "3"}, "got a string")],
)
def test_a_float_or_a_string_is_not_taken_for_an_integer(raw, what):
    with pytest.raises(ConfigError, match=f"k_max must be an integer, {what}"):
        load_config(Typed, overrides=raw)
    assert load_config(Typed, overrides={"lr": "1e-3"}).lr == 1e-3  # YAML 1.1 reads 1e-3 so


def test_deep_nesting_and_huge_numbers_are_config_errors(tmp_path):
    deep = tmp_path / "deep.yaml"
    for depth in (40, 500):
        deep.write_text("sizes: " + "[" * depth + "]" * depth + "\n")
        with pytest.raises(ConfigError, match="nested"):
            load_config(Typed, deep)
        with pytest.raises(ConfigError, match="nested"):
            parse_overrides(["sizes=" + "[" * depth + "]" * depth])
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_overrides(["k_max=" + "9" * 5000])
    huge = tmp_path / "huge.yaml"
    huge.write_text("k_max: " + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(Typed, huge)


def test_a_flag_given_twice_is_an_error(capsys):
    from landscape.cli import main

    assert main(["theory", "--H", "4", "--H", "5", "--store", "s.db"]) == 2
    assert "--H is given twice" in capsys.readouterr().err
    assert main(["theory", "--set", "--H", "--quiet", "--store", "s.db"]) == 1  # a --set value
