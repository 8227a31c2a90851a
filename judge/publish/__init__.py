"""`python -m judge publish` (cli.py): the adapter and its evaluation on the Hub as one tagged commit, with the
model card that card.py writes."""
