"""The systems `judge generate` compares, from their specs, and the one base model the model systems share.

A system is `NAME=SPEC` (NAME is what verdicts and stats call it; without `NAME=`, the kind is the name):

    base             the base model the adapters were trained on (or --base-model)
    base:MODEL       that base model: a Hub id, a local folder, or package:NAME (a model wheel)
    adapter:SOURCE   a LoRA adapter (a folder or a Hub repo, SOURCE[@revision]) on its base
    retrieval        the real reply of the most similar TRAIN tweet (the original spec's RAG baseline)
    human            the real reply to the tweet, as a reference

Every model system runs on ONE loaded base with the adapters toggled, so all of them must share a base: an adapter
knows its base by the Hub id in its adapter_config.json and by the name its training run loaded it from
(run_metadata.json); the base in use must be one of those, or the run stops naming both.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from judge.config import SYSTEM_KINDS, BaseModelConfig
from replytune.errors import Refused
from replytune.versions import parse_spec

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SPEC_HELP = "a system is base, base:MODEL, adapter:DIR_OR_REPO[@revision], retrieval or human (as NAME=SPEC)"


class SystemSpecError(Refused, ValueError):
    """A system spec, or a set of systems, that cannot run; the message names it."""


@dataclass(frozen=True)
class System:
    name: str
    spec: str  # as written
    kind: str  # base | adapter | retrieval | human
    model: str | None = None  # base:MODEL
    adapter: str | None = None  # adapter:SOURCE, without the revision
    revision: str | None = None  # adapter:SOURCE@revision

    @property
    def is_model(self) -> bool:
        return self.kind in ("base", "adapter")


def parse_system(text: str) -> System:
    """`NAME=SPEC` or `SPEC` -> System; raises SystemSpecError naming what is wrong."""
    text = text.strip()
    name, equals, spec = text.partition("=")
    if not equals:
        name, spec = "", text
    name, spec = name.strip(), spec.strip()
    kind, colon, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in SYSTEM_KINDS:
        raise SystemSpecError(f"unknown system spec {text!r}: {SPEC_HELP}")
    name = name or kind
    if not NAME_PATTERN.match(name):
        raise SystemSpecError(f"system name {name!r} in {text!r}: use letters, digits, '_', '.', '-' (at most 64)")
    argument = argument.strip()
    if kind in ("retrieval", "human"):
        if colon:
            raise SystemSpecError(f"system spec {text!r}: {kind} takes no argument")
        return System(name, spec, kind)
    if kind == "base":
        if colon and not argument:
            raise SystemSpecError(f"system spec {text!r}: base:MODEL needs the model (or write plain `base`)")
        return System(name, spec, kind, model=argument or None)
    if not argument:
        raise SystemSpecError(f"system spec {text!r}: adapter:DIR_OR_REPO[@revision] needs the adapter")
    source, revision = parse_spec(argument)
    return System(name, spec, kind, adapter=source, revision=revision)


def parse_systems(specs: dict[str, str] | list[str]) -> list[System]:
    """Config `systems` (NAME: SPEC) or the command line's `--system` values, in order; names must be unique."""
    texts = [f"{name}={spec}" for name, spec in specs.items()] if isinstance(specs, dict) else list(specs)
    systems = [parse_system(text) for text in texts]
    names = [system.name for system in systems]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise SystemSpecError(f"system name(s) {repeated} given twice: name each one, e.g. --system v1=adapter:DIR1")
    return systems


@dataclass
class BaseModel:
    """Where the shared base model is loaded from, and the names it is known by."""

    model_name_or_path: str
    gguf_file: str | None
    hub_id: str | None
    revision: str | None
    chosen_because: str

    @property
    def label(self) -> str:
        return self.model_name_or_path + (f" ({self.gguf_file})" if self.gguf_file else "")


@dataclass
class SystemPlan:
    systems: list[System]
    base: BaseModel | None  # None: no model system
    adapters: dict = field(default_factory=dict)  # system name -> recipes.inference.AdapterInfo


def plan_systems(systems: list[System], config: BaseModelConfig, token: str | None = None) -> SystemPlan:
    """Read every adapter (its config, and from the Hub if needed), choose the base, and check that all fit it.

    Raises SystemSpecError (a bad combination) or recipes.model_utils.ModelLoadError (an adapter that cannot be read).
    """
    from recipes.inference import adapter_base_mismatch, model_identity, read_adapter

    adapters = {s.name: read_adapter(s.adapter, s.revision, token) for s in systems if s.kind == "adapter"}
    base_models = {s.model for s in systems if s.kind == "base" and s.model}
    if len({model_identity(model) for model in base_models}) > 1:
        raise SystemSpecError(
            f"base systems name different models ({', '.join(sorted(base_models))}): the systems of one run share "
            "one loaded base model; compare base models in separate runs"
        )
    if not any(s.is_model for s in systems):
        return SystemPlan(systems, None, adapters)
    base = choose_base(base_models.pop() if base_models else None, list(adapters.values()), config)
    if base_models_differ(config, systems):
        raise SystemSpecError(
            f"base_model.model_name_or_path is {config.model_name_or_path}, but a system is "
            f"{next(s.spec for s in systems if s.kind == 'base' and s.model)}: name one base model"
        )
    for name, adapter in adapters.items():
        why = adapter_base_mismatch(adapter, base.model_name_or_path, base.hub_id, base.gguf_file)
        if why:
            raise SystemSpecError(
                f"system {name!r}: {why} ({base.chosen_because}). All model systems share one base: pass "
                "--base-model with the adapter's base, or set base_model.hub_id when a local copy of it is used"
            )
    return SystemPlan(systems, base, adapters)


def base_models_differ(config: BaseModelConfig, systems: list[System]) -> bool:
    """A `base:MODEL` system that names another model than --base-model / base_model.model_name_or_path."""
    from recipes.inference import model_identity

    if not config.model_name_or_path:
        return False
    names = {model_identity(name) for name in (config.model_name_or_path, config.hub_id) if name}
    return any(s.kind == "base" and s.model and model_identity(s.model) not in names for s in systems)


def choose_base(base_system_model: str | None, adapters: list, config: BaseModelConfig) -> BaseModel:
    """The base: --base-model / base_model.model_name_or_path, else the `base:MODEL` system's, else the first
    adapter's: the model its training run loaded when that exists here (a local folder, an installed model
    package), else the Hub id its adapter_config.json names."""
    adapter = adapters[0] if adapters else None

    def gguf_for(model: str) -> str | None:
        if config.gguf_file:
            return config.gguf_file
        if adapter and adapter.gguf_file and adapter.trained_from:
            from recipes.inference import model_identity

            if model_identity(model) == model_identity(adapter.trained_from):
                return adapter.gguf_file  # the base as the adapter's run loaded it
        return None

    def made(model: str, because: str, hub_id: str | None = None) -> BaseModel:
        return BaseModel(model, gguf_for(model), config.hub_id or hub_id, config.revision, because)

    if config.model_name_or_path:
        return made(config.model_name_or_path, "--base-model / base_model.model_name_or_path")
    if base_system_model:
        return made(base_system_model, "the base:MODEL system")
    if adapter is None:
        raise SystemSpecError("system `base` without a model and without an adapter: write base:MODEL or --base-model")
    if adapter.trained_from and _exists_here(adapter.trained_from):
        return made(
            adapter.trained_from,
            f"the base adapter {adapter.source} was trained from (run_metadata.json)",
            hub_id=adapter.base_model,
        )
    return made(adapter.base_model, f"adapter_config.json of {adapter.source}")


def _exists_here(name: str) -> bool:
    from recipes.model_utils import ModelLoadError, resolve_model_path

    try:
        return os.path.exists(resolve_model_path(name))
    except ModelLoadError:
        return False
