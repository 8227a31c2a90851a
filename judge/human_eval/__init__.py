"""`python -m judge human-eval push | pull` (cli.py): blind pairwise evaluation by people in Argilla; dataset.py is
what annotators see (and the mapping that un-blinds it), results.py how their answers become verdicts."""
