"""Each kind's contract names what a plugin must implement: abstract methods refuse instantiation, and a plugin
class left abstract is reported broken when it loads, not when a cell first builds it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import serbench
from serbench.attacks.base import Attack
from serbench.errors import PluginLoadError
from serbench.models.base import SERModel, linear_bn_relu
from serbench.noises.base import Noise
from serbench.registry import KINDS, check_contract, component, registry

NO_SAMPLE = """
import serbench

@serbench.component(summary="A noise that forgot to implement sample", version="1.0")
class Silent(serbench.Noise):
    def __init__(self, level: float = 0.0):
        self.level = level
"""

NO_FEATURES = """
import serbench
from torch import nn

@serbench.component(summary="A model that forgot forward_features", version="1.0")
class Headless(serbench.SERModel):
    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.add_head(8, num_classes)
"""


class NoGenerate(Attack):
    """Overrides nothing an attack must."""


class NoSample(Noise):
    pass


class NoFeatures(SERModel):
    def __init__(self) -> None:
        super().__init__()
        self.add_head(3, 2)


@pytest.mark.parametrize(("cls", "method"), [(NoGenerate, "generate"), (NoSample, "sample"),
                                             (NoFeatures, "forward_features")])
def test_a_subclass_missing_the_required_method_cannot_be_built(cls, method):
    with pytest.raises(TypeError, match=f"abstract method.*{method}"):
        cls()


def test_the_bases_themselves_are_abstract():
    for base, method in ((Attack, "generate"), (Noise, "sample"), (SERModel, "forward_features")):
        assert base.__abstractmethods__ == frozenset({method}), base


@pytest.mark.parametrize("kind", KINDS)
def test_every_builtin_implements_its_contract(kind):
    for name in registry(kind).names():
        factory = registry(kind).info(name).factory
        check_contract(kind, factory)  # raises on an abstract class


def test_check_contract_names_every_missing_method():
    class Half(Attack):
        pass

    with pytest.raises(TypeError, match=r"Half does not implement abstract method\(s\) generate$"):
        check_contract("attacks", Half)
    check_contract("noises", serbench.registry("noises").info("white").factory)


@pytest.mark.parametrize(("kind", "source", "target", "method"), [
    ("noises", NO_SAMPLE, "dummy_abstract:Silent", "sample"),
    ("models", NO_FEATURES, "dummy_abstract:Headless", "forward_features"),
])
def test_abstract_plugin_class_is_broken_at_load(installed, kind, source, target, method):
    installed("dummy-abstract", "dummy_abstract", source, {f"serbench.{kind}": {"test.abstract": target}})
    assert "test.abstract" in serbench.list_components(kind)
    with pytest.raises(PluginLoadError, match=f"does not implement abstract method\\(s\\) {method}") as exc:
        serbench.info(kind, "test.abstract")  # loading, not building, finds it
    assert "dummy-abstract" in str(exc.value) and "\n" not in str(exc.value)
    ok, broken = registry(kind).check_all()
    assert [b.name for b in broken] == ["test.abstract"] and broken[0].package == "dummy-abstract"
    assert target.split(":")[1] in broken[0].error and method in broken[0].error
    assert "\n" not in broken[0].error and ok


def test_default_head_is_the_linear_fc_that_add_head_builds():
    class Tiny(SERModel):
        def __init__(self) -> None:
            super().__init__()
            self.embed = linear_bn_relu(6, 5)
            self.add_head(5, 3)

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return self.embed(x.flatten(1))

    torch.manual_seed(0)
    model = Tiny().eval()
    assert (model.num_classes, model.embedding_dim) == (3, 5) and isinstance(model.fc, nn.Linear)
    assert list(model.state_dict())[-2:] == ["fc.weight", "fc.bias"]
    x = torch.rand(4, 1, 2, 3)
    assert torch.equal(model(x), model.fc(model.forward_features(x)))


def test_metadata_keywords_have_one_definition():
    @component(version="2.0", summary="s", paper="p", tags=["a"], variants={"v": {"k": 1}}, defaults={"k": 0})
    class Quiet(Noise):
        def sample(self, num_samples, sample_rate, rng):
            return np.zeros(num_samples, dtype=np.float32)

    meta = Quiet.__serbench_component__
    assert meta == {"name": None, "version": "2.0", "summary": "s", "paper": "p", "tags": ("a",),
                    "variants": {"v": {"k": 1}}, "defaults": {"k": 0}}
    with pytest.raises(TypeError, match="unexpected component metadata 'sumary'"):
        component(sumary="typo")
    with pytest.raises(TypeError, match="unexpected component metadata 'sumary'"):
        registry("noises").register("test.never", sumary="typo")
    assert "test.never" not in registry("noises").names()


def test_corpus_declares_root_and_problems_instead_of_leaving_them_to_probes():
    corpus = serbench.get("datasets", "synthetic", utterances_per_class=3)
    assert corpus.root is None and list(corpus.problems) == []
