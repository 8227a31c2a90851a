"""A handful of technical tweets, each with a generic reply (BASE_REPLIES) and a specific one (ADAPTER_REPLIES): the
judge tests' examples, and benchmarks/judge_cost.py's when ../shared/realdata is absent."""

TWEETS = [
    "Finally moved our Postgres from 13 to 16. pg_upgrade --link took 40 seconds for 2 TB.",
    "Hot take: most RAG failures are retrieval failures, not generation failures.",
    "LoRA rank 8 vs 64 made zero difference on our eval. Are we doing something wrong?",
    "Kubernetes 1.31 finally made sidecar containers stable.",
]
BASE_REPLIES = ["Nice!", "Agreed.", "Interesting.", "Cool."]
ADAPTER_REPLIES = [
    "--link is the trick people miss. Did you run vacuumdb --analyze-in-stages after the upgrade?",
    "Same here: recall@10 was 41% on our eval set. Hybrid BM25 + embeddings took it to 78%.",
    "Check that alpha scaled with the rank, and whether your eval can even see a difference.",
    "Native sidecars finally fix the job-never-completes problem with istio-proxy. Long overdue.",
]
