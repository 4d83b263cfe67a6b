"""`GET /api/v1/properties/{id}/price-prediction`, served by a `PriceModel` fitted at start-up.

Fitting and predicting are CPU work: both run in a worker thread (`asyncio.to_thread`), never on the
event loop. When the database was empty at start-up, the model is fitted on first use.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request

from system_under_test.api.models import MAX_ID, PricePredictionOut
from system_under_test.api.properties import load_property
from system_under_test.db import Database
from system_under_test.domain.prediction import MIN_TRAINING_ROWS, PriceModel

router = APIRouter(prefix="/api/v1/properties", tags=["price prediction"])

TRAINING_ROWS = 50_000
TRAINING_SQL = (
    "SELECT p.area_m2, n.base_price_per_m2, p.year_built, p.floors, p.insulation, p.windows, p.energy_class, "
    "p.climate_zone, p.price_eur FROM properties p JOIN neighbourhoods n ON n.id = p.neighbourhood_id "
    "ORDER BY p.id LIMIT $1"
)


class PriceModelHolder:
    """Fits the model once (concurrent first callers share the fit)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.model: PriceModel | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> PriceModel:
        """The fitted model, fitting it now if needed; 503 when there is too little data."""
        if self.model is not None:
            return self.model
        async with self._lock:
            if self.model is None:
                rows = [dict(r) for r in await self.db.read.fetch(TRAINING_SQL, TRAINING_ROWS)]
                if len(rows) < MIN_TRAINING_ROWS:
                    raise HTTPException(503, f"price model unavailable: only {len(rows)} properties stored")
                self.model = await asyncio.to_thread(PriceModel.fit, rows)
        return self.model


@router.get("/{property_id}/price-prediction", response_model=PricePredictionOut)
async def price_prediction(
    property_id: Annotated[int, Path(ge=1, le=MAX_ID, description="property id")], request: Request
) -> dict[str, Any]:
    """Model price of a stored property with a 95 % interval, beside its listed price."""
    db: Database = request.app.state.db
    row = await load_property(db.read, property_id)
    model = await request.app.state.price_model.get()
    price, low, high = await asyncio.to_thread(model.predict, row)
    return {
        "property_id": property_id,
        "predicted_price_eur": round(price, -2),
        "predicted_price_per_m2": round(price / row["area_m2"], 2),
        "interval_95_eur": (round(low, -2), round(high, -2)),
        "listed_price_eur": row["price_eur"],
        "model_r2": round(model.r2, 4),
        "model_trained_on": model.trained_on,
    }
