"""Access tiers: one policy decides what each audience may see.

===================  ===========================================================================
``public``           disclosure-controlled aggregates only; never a record
``provider:<id>``    its own clients' records (pseudonymous) and aggregates over them
``ssm:<id>``         the same for the catchment(s) of a Service System Manager (an SSM id, or a
                     catchment id)
``province``         every record and aggregate, pseudonymized (as the warehouse holds them)
``admin``            everything, including the quarantine of rejected rows
===================  ===========================================================================

Every command that exports takes ``--audience`` and asks :class:`Policy`. A deployment can pin
the widest audience a user may ask for with the ``ESMONITOR_AUDIENCE`` environment variable (a
provider's account gets ``provider:P001``): an explicit ``--audience`` may narrow it (to
``public``), never widen it or move sideways to another provider.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from esmonitor.errors import EsmonitorError, UserInputError
from esmonitor.warehouse import Warehouse

AUDIENCE_ENV = "ESMONITOR_AUDIENCE"
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
        marks = ", ".join("?" for _ in self.values)
        rows = warehouse.fetchall(f"""
            SELECT DISTINCT x.client_id FROM (
                SELECT client_id, site_id FROM referral UNION ALL SELECT client_id, site_id FROM action_plan) x
            JOIN site s USING (site_id) JOIN provider p USING (provider_id)
            WHERE p.{self.column} IN ({marks})""", sorted(self.values))
        return {str(r[0]) for r in rows}

    def _of_providers(self, warehouse: Warehouse, column: str) -> set[str] | None:
        if self.column is None:
            return None
        marks = ", ".join("?" for _ in self.values)
        rows = warehouse.fetchall(f"SELECT DISTINCT {column} FROM provider WHERE {self.column} IN ({marks})",
                                  sorted(self.values))
        return {str(r[0]) for r in rows}

    def providers(self, warehouse: Warehouse) -> set[str] | None:
        """The providers in scope (None: every provider)."""
        return self._of_providers(warehouse, "provider_id")

    def catchments(self, warehouse: Warehouse) -> set[str] | None:
        """The catchments of the providers in scope (None: every catchment)."""
        return self._of_providers(warehouse, "catchment_id")


ALL = Scope(None, frozenset())


def resolve_audience(requested: str | None, environment: str | None = None) -> Audience:
    """The audience a command runs for: ``--audience`` if given, within the ceiling pinned by
    ``ESMONITOR_AUDIENCE``; with neither, ``province`` (the holder of the warehouse file)."""
    ceiling_text = os.environ.get(AUDIENCE_ENV) if environment is None else environment
    ceiling = Audience.parse(ceiling_text) if ceiling_text else None
    wanted = Audience.parse(requested) if requested else (ceiling or Audience("province"))
    if ceiling is not None and not _within(wanted, ceiling):
        raise AccessDenied(f"audience {wanted} is not allowed here: this account is limited to {ceiling}",
                           hint=f"set by {AUDIENCE_ENV}")
    return wanted


def _within(wanted: Audience, ceiling: Audience) -> bool:
    if wanted == ceiling or wanted.is_public:
        return True
    if ceiling.tier in ("provider", "ssm"):
        return False  # no sideways move, no widening (an SSM narrowing to a provider: ask for that account)
    return _RANK[wanted.tier] <= _RANK[ceiling.tier]


class Policy:
    """What an audience may see. One instance per command run."""

    def __init__(self, audience: Audience) -> None:
        self.audience = audience

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
