"""Running networks outside training: ONNX export, ONNX Runtime providers, timing, and MAC counting.

A public part of the core, for plugins (the latency estimators, ``gasnas benchmark``, ``gasnas export``) and
third-party code alike: every latency in gasnas is measured through this one code path, so the CPU tests cover
the logic the GPU path runs. It registers nothing and knows no concrete component.

- :mod:`gasnas.runtime.export`: :func:`~gasnas.runtime.export.export_onnx`.
- :mod:`gasnas.runtime.providers`: :func:`~gasnas.runtime.providers.choose_providers`, the execution providers
  that really load here.
- :mod:`gasnas.runtime.timing`: :func:`~gasnas.runtime.timing.time_torch`,
  :func:`~gasnas.runtime.timing.time_onnxruntime`, their interleaved batch versions
  :func:`~gasnas.runtime.timing.time_torch_many` and :func:`~gasnas.runtime.timing.time_onnxruntime_many`
  (on :func:`~gasnas.runtime.timing.time_interleaved`), :func:`~gasnas.runtime.timing.ort_session`.
- :mod:`gasnas.runtime.macs`: :func:`~gasnas.runtime.macs.count`, MACs and parameters of the inference path.

Importing this package imports nothing heavy; each module imports torch (or onnxruntime) when it is imported.
The same modules were ``gasnas_plugins.runtime.*`` before; those paths still work and warn.
"""
