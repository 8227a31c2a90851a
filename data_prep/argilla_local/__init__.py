"""A local Argilla for people without Docker or Elasticsearch: `make argilla` (python -m data_prep.argilla_local).

This package runs inside the argilla-server venv (`.venv-argilla`, whose pins clash with the main environment), so
it imports only the standard library, argilla_server and what argilla_server itself depends on:

- `search_engine.py`: an in-process search engine registered in argilla_server's engine registry, so the server
  needs no Elasticsearch or OpenSearch;
- `server.py`: the launcher: Redis (Debian's redis-server, else in-process fakeredis), SQLite migrations, the
  owner account, then uvicorn with one worker (the index lives in that process).
"""
