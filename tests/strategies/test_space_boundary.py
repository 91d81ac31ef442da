"""Strategies reach spaces through the SearchSpace contract and declared capabilities only: no strategy module
imports a space plugin, and the NNI strategy's one-shot algorithms ask for the ``nni`` capability when the
config loads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gasnas_plugins
from gasnas.api.space import SearchSpace
from gasnas.config import load_config
from gasnas.errors import IncompatibleComponentsError
from gasnas.registry import NNI, SAMPLING, SUPERNET

STRATEGIES = Path(gasnas_plugins.__file__).parent / "strategies"


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at any depth (function-level imports included)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def test_no_strategy_module_imports_a_space_plugin():
    files = sorted(STRATEGIES.rglob("*.py"))
    assert len(files) > 10
    offending = {f"{path.relative_to(STRATEGIES)}: {name}" for path in files for name in _imports(path)
                 if name == "gasnas_plugins.spaces" or name.startswith("gasnas_plugins.spaces.")}
    assert not offending, f"strategies import space plugins: {sorted(offending)}"


def test_the_space_contract_has_no_nni_form_by_default():
    from toys import TinySpace

    with pytest.raises(IncompatibleComponentsError, match="TinySpace has no NNI form .* implement nni_model_space"):
        TinySpace().nni_model_space(2)
    assert SearchSpace.nni_model_space is TinySpace.nni_model_space


def test_the_gas_and_nni_spaces_declare_the_nni_capability(pm):
    spaces = pm.registry("search spaces")
    assert spaces.get("gas").traits["capabilities"] == {SUPERNET, SAMPLING, NNI}
    assert spaces.get("nni").traits["capabilities"] == {SUPERNET, SAMPLING, NNI}
    assert pm.registry("strategies").get("nni").traits["requires"] == {SAMPLING}


@pytest.mark.parametrize("algorithm", ["DARTS", "GumbelDARTS", "RandomOneShot"])
def test_one_shot_nni_on_a_space_without_nni_form_is_refused_when_the_config_loads(toy_config, algorithm):
    with pytest.raises(IncompatibleComponentsError) as err:
        load_config(toy_config, ["strategy.name=nni", f"strategy.params={{algorithm: {algorithm}}}"])
    message = str(err.value)
    assert message.startswith(f"{toy_config}:")
    assert f"strategy.params: strategy 'nni' needs a search space with nni here (algorithm {algorithm}:" in message
    assert "but space 'tiny' offers sampling; see 'Strategies and spaces'" in message


@pytest.mark.parametrize("algorithm", ["Random", "RegularizedEvolution"])
def test_multi_trial_nni_loads_on_any_space_that_samples(toy_config, algorithm):
    config = load_config(toy_config, ["strategy.name=nni", f"strategy.params={{algorithm: {algorithm}}}"])
    assert config.strategy.params.algorithm == algorithm


def test_one_shot_nni_loads_on_the_gas_space(gas_config):
    config = load_config(gas_config, ["strategy.name=nni", "strategy.params={algorithm: DARTS}", "communicator=null"])
    assert config.space.name == "gas"
