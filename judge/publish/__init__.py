"""`python -m judge publish` (cli.py): the adapter and its evaluation on the Hub as one tagged commit; inputs.py
reads and checks the recipe's output folder and the evaluation folder, card.py writes the model card."""
