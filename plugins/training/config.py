"""The config of ``gasnas train``: what to train, on which data, how; validated before torch is imported.

A training config file (``--config``) has the sections below, all optional; ``--set key=value`` overrides any
of them, and the resolved config (the network included) is written to the run directory::

    dataset: {name: digit-scenes, params: {...}}   # default: the search's dataset, else digit-scenes
    evaluator: {name: segmentation, params: {...}}
    model: {params: {...}}                         # options of a registered model TARGET
    train: {epochs: 20, lr: 0.02, ...}             # TrainOptions
    executor: {name: ray, params: {...}}           # where the trainings of `--top-k K` run (default: here)
    seed: 0                                        # the top level shared with search configs (RunOptions)
    device: auto
    threads: null
    output: runs
    name: null
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gasnas.api import (
    RUN_KEYS, ComponentConfig, ConfigError, Location, RunOptions, apply_overrides, closest, options_to_dict,
    parse_component as parse_component_at, parse_options, parse_run_options, read_config, read_yaml,
)
from gasnas_plugins.training.network import NetworkSpec, resolve_target
from gasnas_plugins.training.options import TrainOptions

if TYPE_CHECKING:
    from gasnas.api import PluginManager

__all__ = ["TrainConfig", "load_train_config", "load_train_data", "parse_component", "DEFAULT_DATASET",
           "DEFAULT_EVALUATOR"]

log = logging.getLogger(__name__)

DEFAULT_DATASET = "digit-scenes"
DEFAULT_EVALUATOR = "segmentation"
TOP_LEVEL = ["dataset", "evaluator", "model", "train", "executor", *RUN_KEYS]


@dataclass(frozen=True, kw_only=True)
class TrainConfig(RunOptions):
    """A validated training config: the top level shared with searches (:class:`~gasnas.config.RunOptions`),
    the network, the data and the recipe."""

    target: NetworkSpec
    dataset: ComponentConfig
    evaluator: ComponentConfig
    train: TrainOptions = dataclasses.field(default_factory=TrainOptions)
    #: what trains several targets at once (``gasnas train RUN --top-k K``); None: the serial executor
    executor: ComponentConfig | None = None
    source: str = "<config>"

    def to_dict(self) -> dict[str, Any]:
        train = options_to_dict(self.train)
        if train["init"] is None:  # init_mode means nothing without init: left out, so older runs still resume
            del train["init_mode"]
        if train["distill"] is None:  # left out without distillation, so older runs still resume
            del train["distill"]
        return {"target": self.target.to_dict(), "dataset": self.dataset.to_dict(),
                "evaluator": self.evaluator.to_dict(), "train": train, **self.run_dict(),
                **({"executor": self.executor.to_dict()} if self.executor is not None else {})}

    @property
    def digest(self) -> str:
        """A hash of everything that changes the result: a checkpoint of another config is refused on resume."""
        return self.digest_of(self.to_dict())

    @property
    def torch_threads(self) -> int | None:
        """The CPU threads to compute with: the top-level ``threads``, else the deprecated ``train.threads``."""
        return self.threads if self.threads is not None else self.train.threads

    @classmethod
    def from_run(cls, run_dir: Path, pm: PluginManager) -> TrainConfig:
        """The config a training run directory was started with (for ``--resume``)."""
        data, where = read_yaml(run_dir / "config.yaml")
        if not isinstance(data, Mapping) or "target" not in data:
            raise ConfigError(f"{where.file}: not the config of a gasnas train run (no 'target')")
        target = NetworkSpec.from_dict(data["target"], where.file)
        rest = {k: v for k, v in data.items() if k != "target"}
        return _parse(target, rest, where, pm)


def parse_component(section: str, kind: str, data: Any, where: Location, pm: PluginManager) -> ComponentConfig:
    """A ``{name, params}`` section naming a registered component of ``kind``, its params checked."""
    return parse_component_at((section,), kind, data, where, pm)[0]


def _with_crop(dataset: ComponentConfig, crop: tuple[int, int], where: Location) -> ComponentConfig:
    """The dataset section with ``augment.crop`` replaced by ``train.crop``."""
    params = dataset.params
    augment = getattr(params, "augment", None)
    if augment is None or not hasattr(augment, "crop"):
        raise where.error(("train", "crop"), f"dataset '{dataset.name}' has no augment.crop option to set; "
                                             "leave train.crop null and configure its augmentation instead")
    params = dataclasses.replace(params, augment=dataclasses.replace(augment, crop=tuple(crop)))
    return ComponentConfig(dataset.kind, dataset.name, params)


def _search_dataset(target: NetworkSpec) -> Any:
    """The dataset section of the search that produced an architecture, when its run directory is still there."""
    run = target.architecture.metadata.get("run") if target.architecture is not None else None
    config = Path(str(run)) / "config.yaml" if run else None
    if config is None or not config.is_file():
        return None
    try:
        section = (yaml.safe_load(config.read_text()) or {}).get("dataset")
    except (yaml.YAMLError, OSError, AttributeError):
        return None
    if section is not None:
        log.info("training on the search's dataset, from %s", config)
    return section


def _merged(given: Any, default: Any) -> Any:
    """A section without a name (e.g. only ``--set dataset.params.x=1``) completes the default section."""
    if given is None:
        return default
    if not isinstance(given, Mapping) or "name" in given:
        return given
    base = {"name": default} if isinstance(default, str) else dict(default)
    params = given.get("params")
    if isinstance(params, Mapping) and isinstance(base.get("params"), Mapping):
        params = {**base["params"], **params}
    return {**base, **given, **({"params": params} if params is not None else {})}


def _check_top_level(data: Mapping[str, Any], where: Location) -> None:
    for key in data:
        if key not in TOP_LEVEL:
            raise where.error((str(key),), f"unknown key '{key}'{closest(str(key), TOP_LEVEL)}; "
                                           f"allowed: {', '.join(TOP_LEVEL)}")


def _data_and_recipe(data: Mapping[str, Any], default_dataset: Any, where: Location,
                     pm: PluginManager) -> tuple[ComponentConfig, TrainOptions]:
    """The dataset section as training uses it (``train.crop`` applied) and the training options."""
    dataset = parse_component("dataset", "datasets", _merged(data.get("dataset"), default_dataset), where, pm)
    train = parse_options(TrainOptions, data.get("train"), ("train",), where)
    if train.crop is not None:
        dataset = _with_crop(dataset, train.crop, where)
    return dataset, train


def _parse(target: NetworkSpec, data: Mapping[str, Any], where: Location, pm: PluginManager) -> TrainConfig:
    _check_top_level(data, where)
    values: dict[str, Any] = {"source": where.file, **parse_run_options(data, where)}
    dataset, train = _data_and_recipe(data, _search_dataset(target) or DEFAULT_DATASET, where, pm)
    evaluator = parse_component("evaluator", "evaluators", _merged(data.get("evaluator"), DEFAULT_EVALUATOR),
                                where, pm)
    if train.threads is not None:
        if values["threads"] is not None and values["threads"] != train.threads:
            raise where.error(("train", "threads"), f"{train.threads} contradicts the top-level threads "
                              f"({values['threads']}); train.threads is deprecated: keep only the top-level one")
        log.warning("%s: train.threads is deprecated; set threads at the top level (the same key as in "
                    "search configs)", where.describe(("train", "threads")))
    executor = parse_component("executor", "executors", data["executor"], where, pm) \
        if data.get("executor") is not None else None
    return TrainConfig(target=target, dataset=dataset, evaluator=evaluator, train=train, executor=executor, **values)


def load_train_config(target: str, config: str | Path | None = None, overrides: Sequence[str] = (), *,
                      pm: PluginManager) -> TrainConfig:
    """Resolve ``target`` and read, override and validate the training config."""
    if config is not None:
        data, where = read_config(config)  # with the files it extends (base:)
    else:
        data, where = {}, Location("<command line>")
    data, where = apply_overrides(data, overrides, where)
    model = data.get("model") or {}
    if not isinstance(model, Mapping) or set(model) - {"params"}:
        raise where.error(("model",), "expected a mapping {params: {...}} of the model's options")
    spec = resolve_target(target, pm, model.get("params"))
    config = _parse(spec, {k: v for k, v in data.items() if k != "model"}, where, pm)
    distill = config.train.distill
    if distill is not None and not (Path(str(distill.teacher)).is_file()
                                    or (Path(str(distill.teacher)) / "best.pt").is_file()
                                    or (Path(str(distill.teacher)) / "checkpoint.pt").is_file()):
        raise where.error(("train", "distill", "teacher"), f"{distill.teacher}: no teacher there; pass a gasnas "
                          "train run directory (holding best.pt) or a checkpoint it wrote (train the teacher first, "
                          "e.g. gasnas train SEARCH_RUN/teacher/architecture.yaml)")
    if config.train.init is not None and not Path(config.train.init).is_file():
        raise where.error(("train", "init"), f"weights file {config.train.init} does not exist; pass the path of a "
                                             "state dict or checkpoint (pretrained weights are never downloaded)")
    return config


def load_train_data(config: str | Path, overrides: Sequence[str] = (), *,
                    pm: PluginManager) -> tuple[ComponentConfig, TrainOptions]:
    """The dataset section of a training config as training uses it (``train.crop`` applied) and its training
    options, without a target (what ``gasnas data check`` checks); a config without a dataset section means the
    default dataset (a target's search dataset is not known here). The ``config.yaml`` of a training run
    directory is read too (its ``target`` is left aside)."""
    data, where = read_config(config)
    data, where = apply_overrides(data, overrides, where)
    data.pop("target", None)
    _check_top_level(data, where)
    return _data_and_recipe(data, DEFAULT_DATASET, where, pm)
