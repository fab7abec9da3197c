"""Access tiers: one policy decides what each audience may see.

===================  ===========================================================================
``public``           disclosure-controlled aggregates only; never a record
``provider:<id>``    its own clients' records (pseudonymous) and aggregates over them
``ssm:<id>``         the same for the catchment(s) of a Service System Manager (an SSM id, or a
                     catchment id)
``province``         every record and aggregate, pseudonymized (as the warehouse holds them)
``admin``            everything, including the quarantine of rejected rows
===================  ===========================================================================

Every command that reads the warehouse takes ``--audience``; what it may show is decided by the
release gate (:mod:`esmonitor.disclosure.gate`) from one :class:`Policy`. A deployment fixes what
callers cannot weaken (:class:`Deployment`): the widest audience a user may ask for
(``ESMONITOR_AUDIENCE``, e.g. ``provider:P001`` for a provider's account; an explicit
``--audience`` may narrow it to ``public``, never widen it or move sideways), and for output
under disclosure control the floor of K and whether zeros are published. ``ESMONITOR_POLICY``
names a small TOML file with the same settings::

    audience = "public"      # the ceiling (ESMONITOR_AUDIENCE, when also set, must lie within it)
    min_count = 10           # K: --min-count may raise it, never lower it
    publish_zeros = false    # zeros protected: --publish-zeros is refused

Without a policy the floor is K = 10 with zeros protected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlglot.expressions as exp
from pydantic import Field

from esmonitor.errors import EsmonitorError, UserInputError
from esmonitor.model.config import ConfigError, Strict, load
from esmonitor.warehouse import Warehouse

AUDIENCE_ENV = "ESMONITOR_AUDIENCE"
POLICY_ENV = "ESMONITOR_POLICY"
DEFAULT_MIN_COUNT = 10
TIERS = ("public", "provider", "ssm", "province", "admin")
_RANK = {"public": 0, "provider": 1, "ssm": 2, "province": 3, "admin": 4}


class AccessDenied(EsmonitorError):
    exit_code = 3


@dataclass(frozen=True)
class Audience:
    tier: str
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> Audience:
        tier, _, ident = text.strip().partition(":")
        tier = tier.lower()
        if tier not in TIERS:
            raise UserInputError(f"unknown audience {text!r}",
                                 hint="public, provider:<id>, ssm:<id>, province or admin")
        if tier in ("provider", "ssm") and not ident:
            example = 'P001' if tier == 'provider' else 'S01'
            raise UserInputError(f"audience {tier!r} needs an id, e.g. {tier}:{example}")
        if tier not in ("provider", "ssm") and ident:
            raise UserInputError(f"audience {tier!r} takes no id (got {text!r})")
        return cls(tier, ident or None)

    def __str__(self) -> str:
        return f"{self.tier}:{self.id}" if self.id else self.tier

    @property
    def is_public(self) -> bool:
        return self.tier == "public"


@dataclass(frozen=True)
class Scope:
    """Which records an audience may read: rows whose ``column`` is in ``values`` (None: all)."""

    column: str | None
    values: frozenset[str]

    def client_ids(self, warehouse: Warehouse) -> set[str] | None:
        """Clients with a referral or an action plan at a site in scope (None: every client)."""
        if self.column is None:
            return None
        visits = exp.union(exp.select("client_id", "site_id").from_("referral"),
                           exp.select("client_id", "site_id").from_("action_plan"), distinct=False)
        query = (exp.select(exp.column("client_id", "x")).distinct()
                 .from_(exp.alias_(exp.Subquery(this=visits), "x"))
                 .join(exp.alias_(exp.to_table("site"), "s"), using=["site_id"])
                 .join(exp.alias_(exp.to_table("provider"), "p"), using=["provider_id"])
                 .where(self._in(exp.column(self.column, "p"))))
        rows = warehouse.fetchall(query)
        return {str(r[0]) for r in rows}

    def _of_providers(self, warehouse: Warehouse, column: str) -> set[str] | None:
        if self.column is None:
            return None
        query = (exp.select(exp.column(column)).distinct().from_("provider")
                 .where(self._in(exp.column(self.column))))
        return {str(r[0]) for r in warehouse.fetchall(query)}

    def _in(self, column: exp.Column) -> exp.Expr:
        return column.isin(*[exp.Literal.string(v) for v in sorted(self.values)])

    def providers(self, warehouse: Warehouse) -> set[str] | None:
        """The providers in scope (None: every provider)."""
        return self._of_providers(warehouse, "provider_id")

    def catchments(self, warehouse: Warehouse) -> set[str] | None:
        """The catchments of the providers in scope (None: every catchment)."""
        return self._of_providers(warehouse, "catchment_id")


ALL = Scope(None, frozenset())


@dataclass(frozen=True)
class Deployment:
    """What a deployment fixes and no caller can weaken."""

    ceilings: tuple[tuple[Audience, str], ...] = ()  # (widest audience, where it was set)
    min_count: float = DEFAULT_MIN_COUNT
    publish_zeros: bool = False
    source: str = "the default policy"

    @property
    def ceiling(self) -> Audience | None:
        return self.ceilings[-1][0] if self.ceilings else None


class _PolicyFile(Strict):
    """The deployment's policy file: the ceiling audience, the floor K, zero handling."""

    audience: str | None = None
    min_count: float | None = Field(default=None, ge=1)
    publish_zeros: bool = False


def deployment(environ: dict[str, str] | None = None) -> Deployment:
    """The deployment's policy from ``ESMONITOR_POLICY`` (a TOML file) and ``ESMONITOR_AUDIENCE``."""
    env = os.environ if environ is None else environ
    ceilings: list[tuple[Audience, str]] = []
    min_count: float = DEFAULT_MIN_COUNT
    publish_zeros = False
    source = "the default policy"
    policy_file = env.get(POLICY_ENV)
    if policy_file:
        path = Path(policy_file)
        try:
            found = load(path, _PolicyFile, "policy file")
        except ConfigError as err:
            raise UserInputError(f"{err} (named by {POLICY_ENV})",
                                 hint='e.g. audience = "public", min_count = 10, publish_zeros = false') from None
        if found.audience is not None:
            ceilings.append((Audience.parse(found.audience), f"{POLICY_ENV} ({path.name})"))
        min_count = float(found.min_count) if found.min_count is not None else min_count
        publish_zeros = found.publish_zeros
        source = f"the policy file {path.name} ({POLICY_ENV})"
    if env.get(AUDIENCE_ENV):
        ceilings.append((Audience.parse(env[AUDIENCE_ENV]), AUDIENCE_ENV))
    return Deployment(tuple(ceilings), min_count, publish_zeros, source)


def resolve_audience(requested: str | None, environment: str | None = None,
                     policy: Deployment | None = None) -> Audience:
    """The audience a command runs for: ``--audience`` if given, within every ceiling the
    deployment pins; with none asked, the narrowest ceiling, else ``province`` (the holder of the
    warehouse file)."""
    if policy is None:
        env = dict(os.environ)
        if environment is not None:
            env[AUDIENCE_ENV] = environment
        policy = deployment(env)
    ceiling = policy.ceiling
    wanted = Audience.parse(requested) if requested else (ceiling or Audience("province"))
    for limit, where in policy.ceilings:
        if not _within(wanted, limit):
            raise AccessDenied(f"audience {wanted} is not allowed here: this account is limited to {limit}",
                               hint=f"set by {where}")
    return wanted


def resolve_policy(audience: str | None, min_count: float | None = None, publish_zeros: bool = False,
                   environ: dict[str, str] | None = None) -> Policy:
    """The policy of one command run: its audience within the deployment's ceiling, and K and
    zero handling no weaker than the deployment's floor (a request below it is refused)."""
    fixed = deployment(environ)
    wanted = resolve_audience(audience, policy=fixed)
    controlled = wanted.tier not in ("province", "admin")
    k = fixed.min_count if min_count is None else float(min_count)
    if not k > 0:
        raise UserInputError(f"--min-count must be positive (got {k:g})")
    if controlled and k < fixed.min_count:
        raise AccessDenied(f"--min-count {k:g} is below the floor of K = {fixed.min_count:g} that {fixed.source} "
                           f"sets for {wanted} output: K may be raised, never lowered",
                           hint=f"leave --min-count out (K = {fixed.min_count:g}) or ask for more")
    if controlled and publish_zeros and not fixed.publish_zeros:
        raise AccessDenied(f"--publish-zeros is refused: {fixed.source} protects zero counts in {wanted} output "
                           "(a zero tells that nobody in the group had the outcome)",
                           hint="leave --publish-zeros out")
    return Policy(wanted, k, publish_zeros)


def _within(wanted: Audience, ceiling: Audience) -> bool:
    if wanted == ceiling or wanted.is_public:
        return True
    if ceiling.tier in ("provider", "ssm"):
        return False  # no sideways move, no widening (an SSM narrowing to a provider: ask for that account)
    return _RANK[wanted.tier] <= _RANK[ceiling.tier]


class Policy:
    """What an audience may see. One instance per command run."""

    def __init__(self, audience: Audience, min_count: float = DEFAULT_MIN_COUNT, publish_zeros: bool = False) -> None:
        self.audience = audience
        self.min_count = float(min_count)
        self.publish_zeros = publish_zeros

    @property
    def needs_disclosure_control(self) -> bool:
        return self.audience.is_public

    def require_records(self, what: str) -> None:
        """Record-level output (one row per person or per rejected row) never reaches ``public``."""
        if self.audience.is_public:
            raise AccessDenied(f"{what} is record-level: the public audience sees only protected aggregates")

    def require(self, tier: str, what: str) -> None:
        if _RANK[self.audience.tier] < _RANK[tier]:
            raise AccessDenied(f"{what} needs the {tier} audience or wider (this is {self.audience})")

    def scope(self, warehouse: Warehouse) -> Scope:
        """The records this audience may read, checked against the warehouse's reference tables."""
        a = self.audience
        if a.tier == "provider":
            found = warehouse.fetchall("SELECT provider_id FROM provider WHERE provider_id = ?", [a.id])
            if not found:
                raise AccessDenied(f"no provider {a.id!r} in this warehouse")
            return Scope("provider_id", frozenset([str(a.id)]))
        if a.tier == "ssm":
            rows = warehouse.fetchall("SELECT catchment_id FROM catchment WHERE ssm_id = ? OR catchment_id = ?",
                                      [a.id, a.id])
            if not rows:
                raise AccessDenied(f"no SSM or catchment {a.id!r} in this warehouse")
            return Scope("catchment_id", frozenset(str(r[0]) for r in rows))
        return ALL
