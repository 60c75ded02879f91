"""Registration beside the class, base classes checked on load, declared defense capabilities, did-you-mean."""

from __future__ import annotations

import importlib
import inspect

import pytest

import serbench
from serbench.defenses.base import Defense
from serbench.errors import PluginLoadError
from serbench.registry import _BUILTIN_MODULES, KINDS, check_base, registry
from serbench.suggest import did_you_mean

NOT_A_NOISE = """
import serbench

@serbench.component(summary="A noise that forgot its base class", version="1.0")
class Hum:
    def sample(self, num_samples, sample_rate, rng):
        return None
"""


@pytest.mark.parametrize("kind", KINDS)
def test_builtins_register_beside_their_definition(kind):
    registry(kind).names()  # imports the built-ins
    for name, info in registry(kind)._builtins.items():
        source = inspect.getsource(inspect.getmodule(info.factory)).replace('",\n    "', '", "')
        assert f'@register(\n    "{kind}", "{name}"' in source, (kind, name)
    assert "register(" not in inspect.getsource(importlib.import_module(_BUILTIN_MODULES[kind]))


def test_plugin_class_without_the_kind_base_is_broken(installed):
    installed("dummy-nobase", "dummy_nobase", NOT_A_NOISE, {"serbench.noises": {"test.nobase": "dummy_nobase:Hum"}})
    assert "test.nobase" in serbench.list_components("noises")
    with pytest.raises(PluginLoadError, match="not a subclass of serbench.noises.base.Noise"):
        serbench.info("noises", "test.nobase")
    ok, broken = registry("noises").check_all()
    assert [b.name for b in broken] == ["test.nobase"] and "white" in [i.name for i in ok]


def test_base_check_passes_subclasses_and_factory_functions():
    check_base("defenses", registry("defenses").info("standard").factory)
    check_base("datasets", registry("datasets").info("synthetic").factory)  # a function: not checked
    with pytest.raises(TypeError, match="the base class of attacks"):
        check_base("attacks", Defense)


@pytest.mark.parametrize("name", registry("defenses").names())
def test_capability_attributes_match_the_old_probes(name):
    cls = registry("defenses").info(name).factory
    overrides = cls.expand_training_set is not Defense.expand_training_set
    assert cls.expands_training_set is overrides
    params = {"parts": [{"name": "mixup"}]} if name == "compose" else {}
    defense = serbench.get("defenses", name, **params)
    adversarial = name.endswith("-adv")
    assert defense.adversarial_batches == (0 if adversarial else None)


def test_did_you_mean_fragment():
    assert did_you_mean("cnn", ["cnn4", "cnn5", "vgg16"], n=3, cutoff=0.5) == "; did you mean 'cnn5' or 'cnn4'?"
    assert did_you_mean("modles", KINDS) == "; did you mean 'models'?"
    assert did_you_mean("zzz", KINDS) == ""
