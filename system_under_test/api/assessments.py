"""`POST /api/v1/energy-assessments`: assess an ad-hoc building given in the body."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from system_under_test.api.models import BuildingIn, EnergyAssessmentOut
from system_under_test.domain.assessment import Assessment, BuildingSpec
from system_under_test.domain.recommendations import options

router = APIRouter(prefix="/api/v1", tags=["energy assessment"])


def assessment_json(a: Assessment) -> dict[str, Any]:
    """The API's view of an assessment (rounded for display)."""
    return {
        "primary_energy_kwh_m2": round(a.primary_energy_kwh_m2, 2),
        "reference_primary_energy_kwh_m2": round(a.reference_primary_energy_kwh_m2, 2),
        "ratio_to_reference": round(a.ratio, 4),
        "energy_class": a.energy_class,
        "heating_need_kwh": round(a.heating_need_kwh, 1),
        "hot_water_need_kwh": round(a.hot_water_need_kwh, 1),
        "annual_energy_cost_eur": round(a.annual_cost_eur, 2),
    }


def assess_with_recommendations(spec: BuildingSpec) -> dict[str, Any]:
    """Assessment, individual recommendations and the all-measures package, JSON-compatible."""
    current, recommendations, bundle = options(spec)
    return {
        "assessment": assessment_json(current),
        "recommendations": [r.as_json() for r in recommendations],
        "package": bundle.as_json() if bundle else None,
    }


@router.post("/energy-assessments", response_model=EnergyAssessmentOut)
async def assess_building(building: BuildingIn) -> dict[str, Any]:
    """Energy class, primary energy and renovation recommendations of the building in the body."""
    return {"building": building.model_dump(), **assess_with_recommendations(building.spec())}
