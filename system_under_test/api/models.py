"""Request and response bodies of the API (pydantic; a bad field gets a 422 naming it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from system_under_test.domain.assessment import BuildingSpec

Insulation = Literal["none", "partial", "kenak2010", "nzeb"]
Windows = Literal["single", "double", "double_low_e", "triple"]
HeatingSystem = Literal["oil_boiler", "gas_boiler", "heat_pump", "electric_resistance", "biomass"]
HotWater = Literal["electric", "gas", "oil", "heat_pump"]
ClimateZone = Literal["A", "B", "C", "D"]
EnergyClass = Literal["A+", "A", "B+", "B", "C", "D", "E", "F", "G"]

MAX_ID = 2**63 - 1
Area = Annotated[float, Field(gt=0, le=100_000, description="heated floor area, m2")]
Floors = Annotated[int, Field(ge=1, le=100)]
Year = Annotated[int, Field(ge=1800, le=2100)]
SolarFraction = Annotated[float, Field(ge=0, le=0.95, description="share of hot water from solar collectors")]
Price = Annotated[float, Field(gt=0, le=1e10)]


class BuildingIn(BaseModel):
    """An ad-hoc building to assess."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    area_m2: Area
    floors: Floors
    year_built: Year
    insulation: Insulation
    windows: Windows
    heating_system: HeatingSystem
    hot_water: HotWater
    solar_fraction: SolarFraction
    climate_zone: ClimateZone

    def spec(self) -> BuildingSpec:
        """The domain view."""
        return BuildingSpec(**self.model_dump())


class PropertyUpdate(BaseModel):
    """Fields of a property an administrator may change (at least one)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    area_m2: Area | None = None
    floors: Floors | None = None
    year_built: Year | None = None
    insulation: Insulation | None = None
    windows: Windows | None = None
    heating_system: HeatingSystem | None = None
    hot_water: HotWater | None = None
    solar_fraction: SolarFraction | None = None
    price_eur: Price | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> PropertyUpdate:
        if not self.model_fields_set:
            raise ValueError("at least one field must be given")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class AssessmentOut(BaseModel):
    """Energy performance (see `domain.energy`)."""

    primary_energy_kwh_m2: float
    reference_primary_energy_kwh_m2: float
    ratio_to_reference: float
    energy_class: EnergyClass
    heating_need_kwh: float
    hot_water_need_kwh: float
    annual_energy_cost_eur: float


class RecommendationOut(BaseModel):
    """One renovation measure."""

    measure: str
    description: str
    cost_eur: float
    annual_savings_eur: float
    payback_years: float
    resulting_class: EnergyClass
    resulting_primary_energy_kwh_m2: float


class EnergyAssessmentOut(BaseModel):
    """Assessment plus recommendations of an ad-hoc building."""

    building: BuildingIn
    assessment: AssessmentOut
    recommendations: list[RecommendationOut]
    package: RecommendationOut | None


class PropertyOut(BaseModel):
    """A stored property."""

    id: int
    address: str
    neighbourhood: str
    climate_zone: ClimateZone
    area_m2: float
    year_built: int
    floors: int
    insulation: Insulation
    windows: Windows
    heating_system: HeatingSystem
    hot_water: HotWater
    solar_fraction: float
    price_eur: float
    primary_energy_kwh_m2: float
    energy_class: EnergyClass
    potential_savings_eur: float


class PropertyAssessmentOut(BaseModel):
    """Assessment of a stored property."""

    property: PropertyOut
    assessment: AssessmentOut
    recommendations: list[RecommendationOut]
    package: RecommendationOut | None


class PortfolioOverviewOut(BaseModel):
    """A user's holdings at a glance."""

    user_id: int
    user_name: str
    portfolios: int
    properties: int
    total_area_m2: float
    total_value_eur: float
    total_estimated_annual_savings_eur: float
    average_primary_energy_kwh_m2: float | None
    class_distribution: dict[str, int]
    query_mode: Literal["sequential", "concurrent"]


class PropertyPosition(BaseModel):
    """Where one property sits in its market."""

    property_id: int
    price_per_m2: float
    percentile: float | None = Field(description="share of the neighbourhood's sales at or below, 0-100")


class MarketComparisonOut(BaseModel):
    """A neighbourhood's market."""

    neighbourhood: str
    name: str
    city: str
    climate_zone: ClimateZone
    transactions: int
    median_price_per_m2: float | None
    p25_price_per_m2: float | None
    p75_price_per_m2: float | None
    class_distribution: dict[str, int]
    property: PropertyPosition | None
    upstream: dict | None = Field(description="market-data upstream figures; null when unavailable")
    degraded: bool = Field(description="true when the upstream market data could not be included")
    degraded_reason: str | None = Field(None, description="why the upstream market data is missing")


class PricePredictionOut(BaseModel):
    """Model price of a property."""

    property_id: int
    predicted_price_eur: float
    predicted_price_per_m2: float
    interval_95_eur: tuple[float, float]
    listed_price_eur: float
    model_r2: float
    model_trained_on: int
