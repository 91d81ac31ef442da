"""Training fixed networks from scratch: a library the ``train``/``eval``/``export``/``benchmark`` commands use,
and that search strategies may reuse (optimisers, the poly schedule, the train loop, the checkpoint format).

Not a plugin itself: it registers nothing.
"""
