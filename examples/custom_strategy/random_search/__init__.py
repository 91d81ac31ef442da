"""``random-search``: a multi-trial search strategy as a third-party gasnas plugin (an example)."""
