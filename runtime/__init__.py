"""The bottom layer: what every other package needs and nothing of ours provides — the clock and
its time zone. It imports nothing of ours (held by tests/test_layers.py)."""
