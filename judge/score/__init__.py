"""`python -m judge score` (cli.py): the judges (backends/, behind the interface in backends/base.py) over
generations.jsonl -> verdicts.jsonl. runner.py runs the judgements (resume, the request cache in cache.py, the cost
cap in cost.py); tasks.py says what is judged and prompts.py how it is asked and read back."""
