"""Offline stand-ins for what replytune talks to: the Hugging Face Hub (standins.hub, which `make demo` starts and
`python -m standins.hub` serves by hand), the Anthropic, OpenAI-compatible and Apify APIs, and tiny Qwen3 models.

`make demo`, the benchmarks and the tests all use them; nothing here imports pytest (the fixtures that start them
for a test live in tests/stand_ins/).
"""
