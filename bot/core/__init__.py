"""The kernel: plain values, ports (protocols), errors and visibility rules.

Everything else builds on it; it imports nothing of ours (standard library and typing only).
The layers, innermost first: `bot.core` <- `agent` <- services in `bot` <- `adapters` <- the
wiring (`bot/app.py`, `bot/serve.py`, `bot/cli.py`); tests/test_layers.py checks the rules.
"""
