"""Cell pictures: no label covers another, every edge has its operation's colour, and a legend names them."""

from __future__ import annotations

import random
from itertools import combinations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.text import Annotation

from gasnas_plugins.spaces.gas.cells import op_label
from gasnas_plugins.spaces.gas.options import GasSpaceOptions
from gasnas_plugins.spaces.gas.render import OUTPUT_STYLE, cell_figure, op_style
from gasnas_plugins.spaces.gas.space import GasSearchSpace


@pytest.mark.parametrize("preset", ["gas-tiny", "gas-paper"])
def test_cell_labels_never_overlap_and_the_legend_names_every_operation(preset):
    space = GasSearchSpace(GasSpaceOptions(preset=preset))
    spec = space.spec
    for seed in range(3):
        sample = space.random_sample(random.Random(seed))
        for k in (0, spec.reductions[0]):
            fig = cell_figure(spec, sample, k)
            canvas = FigureCanvasAgg(fig)
            canvas.draw()  # lays the legend out
            renderer = canvas.get_renderer()
            ax = fig.axes[0]
            legend = ax.get_legend()
            assert legend is not None
            nodes = [t for t in ax.texts if not isinstance(t, Annotation)]
            boxes = [(t.get_text(), t.get_bbox_patch().get_window_extent(renderer)) for t in nodes]  # the circles
            boxes += [(t.get_text(), t.get_window_extent(renderer))
                      for t in (ax.title, legend.get_title(), *legend.get_texts())]
            for (a, box_a), (b, box_b) in combinations(boxes, 2):
                assert not box_a.overlaps(box_b), f"cell {k}: '{a}' overlaps '{b}'"
            assert all(fig.bbox.contains(*box.min) and fig.bbox.contains(*box.max) for _, box in boxes)  # none cut

            ops = [sample[op_label(k, i, s)] for i in range(2, spec.nodes + 2) for s in (0, 1)]
            assert [t.get_text() for t in legend.get_texts()] == \
                [op for op in spec.ops if op in ops] + [f"concatenated into c{k}"]
            arrows = [to_hex(a.arrow_patch.get_edgecolor()) for a in ax.texts if isinstance(a, Annotation)]
            edges = [to_hex(op_style(op, spec.ops)[0]) for op in ops]
            output = to_hex(OUTPUT_STYLE[0])
            assert sorted(c for c in arrows if c != output) == sorted(edges)
            assert arrows.count(output) == spec.nodes  # each node into the cell's output


def test_an_operation_outside_the_known_list_gets_its_own_colour():
    ops = ("conv_3x3", "my_op", "other_op")
    colours = {op_style(op, ops)[0] for op in ops}
    assert len(colours) == 3
