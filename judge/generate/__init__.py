"""`python -m judge generate` (cli.py): every system answers the same held-out tweets (held_out.py), each system
as systems.py plans it (retrieval.py for the `retrieval` system); runner.py writes the replies, resumably, and
runs the forgetting check (forgetting.py); report.py writes the report, with sanity_metrics.py's numbers."""
