"""replytune evaluation: one folder per command of `python -m judge`, each with its `cli.py`.

- `generate/`: every system under comparison answers the same held-out tweets -> generations.jsonl;
- `score/`: a judge (Claude, an OpenAI-compatible server, the offline engagement scorer or a local model, behind
  one interface in `score/backends/`) over generations.jsonl -> verdicts.jsonl, resumable and cost-capped;
- `validate/`: how far each judge agrees with real likes and with itself;
- `stats/`: paired significance over one judge's verdicts and the verdict against the criteria -> stats.json;
- `human_eval/`: blind pairwise evaluation by people in Argilla;
- `publish/`: the adapter and its model card on the Hub;
- `run.py`: `judge run`, generate -> score -> stats (-> publish) into one folder.

Shared by the commands: `records.py` (the evaluation folder's file names, generations.jsonl and verdicts.jsonl, the
verdict vocabulary and `combine_orders`), `config.py` (every section of judge/configs/*.yaml) and `plots.py`.
A command may use another's modules (validate runs score's judges, publish quotes stats and validate), never in a
circle, and nothing here imports scripts/ or the stand-ins (tests/test_layering.py).
"""
