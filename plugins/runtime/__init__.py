"""Runtimes shared by the default plugins: ONNX export, ONNX Runtime providers, and timing.

Not a plugin itself (it registers nothing): `gasnas benchmark`, the latency estimators and the search's final
measurement all time networks through this one code path, so CPU tests cover the logic the GPU path runs.
"""
