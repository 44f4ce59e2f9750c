"""Realistic department extracts for every registered source, consistent across departments.

Legal representatives are people of the population extract; most licence holders and credit
subjects exist in the libraries, a few do not. Every identifier is valid until `defect_rate`
breaks a share of each extract in every way the rules catch (the manifest counts them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from catalog_schema import Catalog
from gdx.demo.data.credit import write_credit
from gdx.demo.data.entities import write_entities
from gdx.demo.data.extract import Extract
from gdx.demo.data.licences import write_licences
from gdx.demo.data.people_sources import (
    INSURED_DB,
    write_contributions,
    write_insurance_database,
    write_marriage_register,
)
from gdx.demo.data.population import write_household_register

DEMO_API_TOKEN = "demo-token"
DEMO_CONNECTIONS = {"hr_db", "transport_api"}


@dataclass
class DemoManifest:
    """What was written: one extract per registered source, and the connections they need."""

    people: int
    extracts: dict[str, Extract] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(extract.rows for extract in self.extracts.values())


def write_demo_data(
    out: Path,
    catalog: Catalog,
    people: int = 10_000,
    seed: int = 7,
    defect_rate: float = 0.03,
    api_port: int = 8765,
) -> DemoManifest:
    """Write every registered source's demo extract under `out`; returns the manifest."""
    if people < 1:
        raise ValueError("--people must be at least 1")
    if not 0 <= defect_rate <= 0.5:
        raise ValueError("--defect-rate must be between 0 and 0.5")
    out = out.resolve()
    rng = np.random.default_rng(seed)
    manifest = DemoManifest(people=people)
    population, household = write_household_register(out, rng, people, defect_rate)
    manifest.extracts["public_security.population"] = household
    manifest.extracts["civil_affairs.marriage"] = write_marriage_register(
        out, rng, population, defect_rate
    )
    entities, entity_extracts = write_entities(out, rng, population, defect_rate)
    manifest.extracts |= entity_extracts
    manifest.extracts["human_resources.insured"] = write_insurance_database(
        out, rng, population, entities.usccs[entities.kinds == "enterprise"], defect_rate
    )
    manifest.extracts |= write_licences(
        out, rng, population, entities, defect_rate, catalog.departments
    )
    manifest.extracts |= write_credit(out, rng, population, entities, defect_rate)
    manifest.extracts["human_resources.payments"] = write_contributions(
        out, rng, population, entities.usccs[entities.kinds == "enterprise"], defect_rate
    )
    manifest.connections = {
        "hr_db": f"sqlite:///{out / INSURED_DB}",
        "transport_api": f"http://:{DEMO_API_TOKEN}@127.0.0.1:{api_port}",
    }
    return manifest
