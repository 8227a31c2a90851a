"""Training recipes: `sft_qlora.py` (the script), `replytune_sft.py` (its model loading, callbacks, arguments)."""
