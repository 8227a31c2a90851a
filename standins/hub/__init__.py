"""An offline stand-in for the Hugging Face Hub HTTP API.

replytune publishes datasets and LoRA adapters to the Hub and loads them back by tag. No installable local Hub
accepts pushes (../shared/NOTES.md), so `make demo` and the tests point huggingface_hub, datasets, transformers and
peft at this stdlib server on 127.0.0.1 instead. It implements the slice of the API that huggingface_hub 1.33 and
datasets 4.8.5 use: repos (create/delete/settings/info), preupload + ndjson commits, the Git-LFS basic batch API with
PUT upload, tags and branches, refs, tree, commits, paths-info, and /resolve with HEAD, Range and the headers that
`hf_hub_download` checks. Every commit keeps a full snapshot, so older revisions (tags, shas) stay readable.

Deliberately left out, so that a caller relying on them fails loudly instead of silently passing: Xet storage
(clients must run with HF_HUB_DISABLE_XET=1), pull requests (`create_pr=True`), gated repos, multipart LFS, Spaces
runtime, discussions, and the dataset viewer (datasets-server), which lives on another host.

- model.py: repos, commits, blobs and the Hub's errors; server.py: `HubStandIn`, the store behind a loopback server;
  routes.py: the HTTP API; __main__.py: `python -m standins.hub [--port N]`, the stand-in on its own.
- Tests use it through the `hub_endpoint` fixture (tests/stand_ins/hub.py), which also patches the endpoint
  constants that the client libraries read at import time. `make demo` starts it and sets HF_ENDPOINT for the
  commands it runs (scripts/demo.py).
"""

from standins.hub.model import TOKEN, USER, Blob, Commit, HubError, RecordedRequest, Repo
from standins.hub.server import HubStandIn

__all__ = ["TOKEN", "USER", "Blob", "Commit", "HubError", "HubStandIn", "RecordedRequest", "Repo"]
