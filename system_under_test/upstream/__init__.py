"""The market-data upstream service (`python -m system_under_test.upstream`) and the service's client of it."""

from .client import MarketDataClient, UpstreamNotConfigured

__all__ = ["MarketDataClient", "UpstreamNotConfigured"]
