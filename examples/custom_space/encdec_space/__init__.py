"""``encdec``: an encoder-decoder search space, written from scratch as a gasnas plugin (an example)."""
