"""The contracts every component implements. Importing these modules imports torch; the CLI never does at start-up.

====================  ======================================  ==============================================
kind                  interface                               the factory registered for it is called as
====================  ======================================  ==============================================
search space          :class:`~gasnas.api.space.SearchSpace`  ``factory(options)``
supernet (of a space) :class:`~gasnas.api.space.Supernet`     ``space.build_supernet(num_classes)``
communicator          :class:`~gasnas.api.communicator.Communicator`  ``factory(options, choices)``
search strategy       :class:`~gasnas.api.strategy.SearchStrategy`    ``factory(options)``
latency estimator     :class:`~gasnas.api.latency.LatencyEstimator`   ``factory(options, env)``
evaluator             :class:`~gasnas.api.evaluator.Evaluator`        ``factory(options)``
dataset               :class:`~gasnas.api.dataset.SegmentationDataset`  ``factory(options)``
model                 ``torch.nn.Module`` (see :mod:`gasnas.api.model`)  ``factory(num_classes, options)``
====================  ======================================  ==============================================
"""
