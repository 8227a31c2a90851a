"""`python -m judge validate` (cli.py): how far each judge agrees with real likes and with itself, on pairs of real
replies to one tweet (threads.py); metrics.py defines the numbers (accuracy, its bootstrap, position consistency,
length bias)."""
