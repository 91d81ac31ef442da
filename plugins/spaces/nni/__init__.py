"""The ``nni`` search space: a user's NNI 3.0 ``ModelSpace`` searched by gasnas (registration only).

Neither torch nor nni is imported here: nni takes seconds to import and is an optional extra
(``pip install 'gasnas[nni]'``); it is imported when a config uses this space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gasnas import hookimpl
from gasnas.api import NNI, SAMPLING, SUPERNET, option

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class NniSpaceOptions:
    """An NNI ModelSpace class named by import path, and the arguments it is built with."""

    space: str | None = option(None, "import path of the NNI ModelSpace class (or a function returning one), "
                                     "e.g. 'mypkg.spaces:MySpace'")
    args: dict[str, Any] = option({}, "keyword arguments of the class (NNI's ModelSpace.args)")
    num_classes_arg: str | None = option(
        "num_classes", "keyword through which the dataset's class count is passed, when the class takes it "
                       "(null: never passed)")

    def __post_init__(self) -> None:
        if self.space is not None and not _IMPORT_PATH.match(self.space):
            raise ValueError(f"space: {self.space!r} is not an import path; write 'package.module:ClassName'")
        if self.num_classes_arg is not None and self.num_classes_arg in self.args:
            raise ValueError(f"args.{self.num_classes_arg} is passed from the dataset (num_classes_arg); remove it "
                             "from args or set num_classes_arg: null")


#: a working instance for conformance tests and docs: the gas space written as an NNI ModelSpace, searched as one
EXAMPLE = {"space": "gasnas_plugins.spaces.gas.model_space:GasModelSpace",
           "args": {"preset": "gas-tiny", "cells": 3, "nodes": 2, "channels": 8, "stem_channels": [8, 8, 8],
                    "reductions": [1]}}


@hookimpl
def gasnas_register_search_spaces(registry) -> None:
    registry.add("nni", "gasnas_plugins.spaces.nni.adapter:NniSearchSpace", options=NniSpaceOptions,
                 capabilities=[SUPERNET, SAMPLING, NNI], example=EXAMPLE,
                 description="a user's NNI 3.0 ModelSpace (LayerChoice, InputChoice, Repeat, Cell, nni.choice with "
                             "Mutable layers); samples and exports are NNI sample dicts (needs gasnas[nni])")
