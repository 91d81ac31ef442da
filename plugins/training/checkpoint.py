"""The trained-network checkpoint: everything needed to rebuild, evaluate, export and time the network.

``best.pt`` and ``checkpoint.pt`` of a training run hold (plain types and tensors only, loadable with
``weights_only``)::

    kind          "gasnas-trained/1"
    network       NetworkSpec.to_dict(): a registered model and its params, or a whole architecture
    num_classes, input_size, class_names
    dataset       {name, params} the network was trained on; evaluator likewise
    state_dict    the network's weights
    epoch, metrics, config_digest
    trainer       (checkpoint.pt only) optimiser, schedule, loss scaler, RNG states and the best score so far
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gasnas.api import CheckpointError, Location, apply_overrides, load_checkpoint
from gasnas_plugins.training.network import NetworkSpec, checkpoint_path

if TYPE_CHECKING:
    from torch import nn

    from gasnas.api.dataset import SegmentationDataset
    from gasnas.api.evaluator import Evaluator
    from gasnas.api import ComponentConfig
    from gasnas.api import PluginManager

__all__ = ["TRAINED_FORMAT", "TrainedNetwork", "load_trained", "network_payload"]

TRAINED_FORMAT = "gasnas-trained/1"


def network_payload(*, spec: NetworkSpec, dataset: ComponentConfig, evaluator: ComponentConfig,
                    data: SegmentationDataset, model: nn.Module, epoch: int, metrics: Mapping[str, float],
                    config_digest: str) -> dict[str, Any]:
    """The part of a checkpoint that describes and holds the trained network."""
    return {
        "kind": TRAINED_FORMAT,
        "network": spec.to_dict(),
        "num_classes": int(data.num_classes),
        "input_size": [int(v) for v in data.input_size],
        "class_names": list(data.class_names),
        "dataset": dataset.to_dict(),
        "evaluator": evaluator.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "epoch": int(epoch),
        "metrics": {k: float(v) for k, v in metrics.items()},
        "config_digest": config_digest,
    }


@dataclass
class TrainedNetwork:
    """A loaded training checkpoint."""

    path: Path
    spec: NetworkSpec
    num_classes: int
    input_size: tuple[int, int]
    dataset: dict[str, Any]
    evaluator: dict[str, Any]
    state_dict: dict[str, Any] = field(repr=False)
    epoch: int = -1
    metrics: dict[str, float] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()

    def build(self, pm: PluginManager) -> nn.Module:
        """The network with its trained weights, in eval mode, on the CPU."""
        model = self.spec.build(self.num_classes, pm)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"{self.path}: its weights do not fit the {self.spec.describe()} rebuilt from it "
                                  f"(has the network's code changed since training?): "
                                  f"{str(exc).splitlines()[0]}") from None
        return model.eval()

    def dataset_config(self, pm: PluginManager, overrides: Sequence[str] = ()) -> ComponentConfig:
        """The dataset section it was trained on, with ``--set dataset.params.root=...``-style overrides."""
        from gasnas_plugins.training.config import parse_component

        where = Location(f"{self.path} (dataset)")
        data, where = apply_overrides({"dataset": self.dataset}, overrides, where)
        return parse_component("dataset", "datasets", data["dataset"], where, pm)

    def load_dataset(self, pm: PluginManager, overrides: Sequence[str] = ()) -> SegmentationDataset:
        section = self.dataset_config(pm, overrides)
        return pm.registry("datasets").get(section.name).build(section.params)

    def load_evaluator(self, pm: PluginManager, **changes: Any) -> Evaluator:
        """The evaluator it was validated with; ``changes`` replace some of its options (e.g. ``flip=True``)."""
        import dataclasses

        from gasnas_plugins.training.config import parse_component

        section = parse_component("evaluator", "evaluators", self.evaluator, Location(str(self.path)), pm)
        params = section.params
        if params is not None and changes:
            params = dataclasses.replace(params, **{k: v for k, v in changes.items() if v is not None})
        return pm.registry("evaluators").get(section.name).build(params)


def load_trained(target: str | Path) -> TrainedNetwork:
    """Load ``best.pt``/``checkpoint.pt`` (or the best one of a run directory) written by ``gasnas train``."""
    path = checkpoint_path(target)
    data = load_checkpoint(path)
    if data.get("kind") != TRAINED_FORMAT:
        raise CheckpointError(f"{path}: not a trained-network checkpoint (expected kind {TRAINED_FORMAT}; a search "
                              "checkpoint? train its architecture first: gasnas train RUN_DIR/architecture.yaml)")
    try:
        return TrainedNetwork(
            path=path, spec=NetworkSpec.from_dict(data["network"], str(path)), num_classes=int(data["num_classes"]),
            input_size=tuple(data["input_size"]), dataset=dict(data["dataset"]), evaluator=dict(data["evaluator"]),
            state_dict=data["state_dict"], epoch=int(data.get("epoch", -1)), metrics=dict(data.get("metrics", {})),
            class_names=tuple(data.get("class_names", ())))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: incomplete trained-network checkpoint ({type(exc).__name__}: {exc})") from None
