"""A funding model as configuration: one TOML file per model (``funding/models/``: the IES model,
the default; the UK Work Programme and a WIOA-style target model, to show the configuration is
general). See ``models/ies.toml`` for every key, with its source or the assumption behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from esmonitor.errors import UserInputError
from esmonitor.model.config import Strict, parse_toml, validate

CHECKPOINTS = (1, 3, 6, 12)
STREAMS = ("A", "B", "C")
BUILT_IN = ("ies", "uk_work_programme", "wioa_targets")


@dataclass(frozen=True)
class FundingModel:
    id: str
    version: str
    name_en: str
    name_fr: str
    kind: str                                     # per_outcome or target
    envelope_default: float
    envelope_by_catchment: dict[str, float]
    performance: tuple[float, ...]                # share by agreement year; the last holds on
    supports: float
    payments: dict[str, dict[int, float]] = field(default_factory=dict)   # stream -> checkpoint -> CAD
    shortfall: str = "prorate"
    surplus: str = "retained"
    target_checkpoint: int = 6
    target_rate: float = 0.0
    target_floor: float = 0.9
    source: str = ""

    def envelope(self, catchment: str) -> float:
        return self.envelope_by_catchment.get(catchment, self.envelope_default)

    def performance_share(self, agreement_year: int) -> float:
        return self.performance[min(max(agreement_year, 1), len(self.performance)) - 1]

    def per_client(self, stream: str) -> float:
        return float(sum(self.payments.get(stream, {}).values()))


def load_model(name_or_path: str | Path) -> FundingModel:
    """A built-in model by id (``ies``, ``uk_work_programme``, ``wioa_targets``) or a TOML file."""
    text_name = str(name_or_path)
    if text_name in BUILT_IN:
        source = f"{text_name}.toml (built in)"
        text = (resources.files("esmonitor.funding") / "models" / f"{text_name}.toml").read_text("utf-8")
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise UserInputError(f"{path}: file not found", hint=f"or a built-in model: {', '.join(BUILT_IN)}")
        source, text = str(path), path.read_text("utf-8")
    data = parse_toml(text, source, "funding model")
    validate(data, _FundingFile, source, "funding model")  # keys and kinds of value; the rules below
    return _parse(data, source)


class _ModelSection(Strict):
    id: str
    version: str
    name_en: str = ""
    name_fr: str = ""
    kind: Literal["per_outcome", "target"]


class _Envelope(Strict):
    default: float = 0.0
    catchment: dict[str, float] = Field(default_factory=dict)


class _Shares(Strict):
    performance: list[float]
    supports: float = 0.0


class _Caps(Strict):
    pot: Literal["performance_share"] = "performance_share"
    shortfall: Literal["prorate", "none"] = "prorate"
    surplus: Literal["retained"] = "retained"  # what the pot keeps when earned payments fall short


class _Target(Strict):
    checkpoint: Literal[1, 3, 6, 12] = 6
    rate: float = 0.0
    floor: float = 0.9


class _FundingFile(Strict):
    """The keys of a funding model file (``models/ies.toml`` explains each)."""

    model: _ModelSection
    envelope: _Envelope = Field(default_factory=_Envelope)
    shares: _Shares
    payments: dict[Literal["A", "B", "C"], dict[Literal["1", "3", "6", "12"], float]] = Field(default_factory=dict)
    caps: _Caps = Field(default_factory=_Caps)
    target: _Target = Field(default_factory=_Target)


def _need(data: dict[str, Any], key: str, source: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise UserInputError(f"{source}: missing key {key!r}")
        node = node[part]
    return node


def _parse(data: dict[str, Any], source: str) -> FundingModel:
    def bad(key: str, value: Any, rule: str) -> UserInputError:
        return UserInputError(f"{source}: {key} = {value!r} breaks the rule '{rule}'")

    kind = _need(data, "model.kind", source)
    if kind not in ("per_outcome", "target"):
        raise bad("model.kind", kind, "per_outcome or target")
    performance = _need(data, "shares.performance", source)
    if not isinstance(performance, list) or not performance:
        raise bad("shares.performance", performance, "a list of shares, one per agreement year")
    supports = float(data.get("shares", {}).get("supports", 0.0))
    for i, share in enumerate(performance):
        if not 0 <= float(share) <= 1 or float(share) + supports > 1:
            raise bad(f"shares.performance[{i}]", share, "0 <= share and performance + supports <= 1")
    payments: dict[str, dict[int, float]] = {}
    for stream, table in data.get("payments", {}).items():
        if stream not in STREAMS:
            raise bad(f"payments.{stream}", table, f"a stream: {', '.join(STREAMS)}")
        payments[stream] = {}
        for checkpoint, amount in table.items():
            if int(checkpoint) not in CHECKPOINTS:
                raise bad(f"payments.{stream}.{checkpoint}", amount, "a checkpoint of 1, 3, 6 or 12 months")
            if float(amount) < 0:
                raise bad(f"payments.{stream}.{checkpoint}", amount, "a payment is not negative")
            payments[stream][int(checkpoint)] = float(amount)
    if kind == "per_outcome" and not payments:
        raise UserInputError(f"{source}: a per_outcome model needs a [payments] table")
    caps = data.get("caps", {})
    if caps.get("shortfall", "prorate") not in ("prorate", "none"):
        raise bad("caps.shortfall", caps.get("shortfall"), "prorate or none")
    envelope = data.get("envelope", {})
    target = data.get("target", {})
    if kind == "target" and not 0 < float(target.get("rate", 0)) <= 1:
        raise bad("target.rate", target.get("rate"), "a target model needs 0 < target.rate <= 1")
    return FundingModel(
        id=str(_need(data, "model.id", source)), version=str(_need(data, "model.version", source)),
        name_en=str(data["model"].get("name_en", "")), name_fr=str(data["model"].get("name_fr", "")), kind=kind,
        envelope_default=float(envelope.get("default", 0.0)),
        envelope_by_catchment={k: float(v) for k, v in envelope.get("catchment", {}).items()},
        performance=tuple(float(s) for s in performance), supports=supports, payments=payments,
        shortfall=str(caps.get("shortfall", "prorate")), surplus=str(caps.get("surplus", "retained")),
        target_checkpoint=int(target.get("checkpoint", 6)), target_rate=float(target.get("rate", 0.0)),
        target_floor=float(target.get("floor", 0.9)), source=source)
