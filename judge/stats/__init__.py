"""`python -m judge stats` (cli.py): paired significance of candidate vs baseline over one judge's verdicts
(verdicts.py reads and selects them), the tests in significance.py, and the verdict against the success criteria
(criteria.py)."""
