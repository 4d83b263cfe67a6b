-- Keys and indexes, created after the bulk load by data/seed.py.

ALTER TABLE properties ADD PRIMARY KEY (id);
ALTER TABLE market_transactions ADD PRIMARY KEY (id);
ALTER TABLE users ADD PRIMARY KEY (id);
ALTER TABLE portfolios ADD PRIMARY KEY (id);
ALTER TABLE portfolio_properties ADD PRIMARY KEY (portfolio_id, property_id);

ALTER TABLE properties ADD FOREIGN KEY (neighbourhood_id) REFERENCES neighbourhoods (id);
ALTER TABLE portfolios ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE portfolio_properties ADD FOREIGN KEY (portfolio_id) REFERENCES portfolios (id);
ALTER TABLE portfolio_properties ADD FOREIGN KEY (property_id) REFERENCES properties (id);

-- market comparison: class distribution of a neighbourhood (index-only scan)
CREATE INDEX properties_neighbourhood_class_idx ON properties (neighbourhood_id, energy_class);
-- market comparison: median and percentile of price per m2 in a neighbourhood
CREATE INDEX market_transactions_neighbourhood_price_idx ON market_transactions (neighbourhood_id, price_per_m2);
-- portfolio overview: a user's portfolios
CREATE INDEX portfolios_user_idx ON portfolios (user_id);
-- property writes: who holds a property (whose portfolio overviews a PATCH invalidates). Without it every
-- PATCH scanned all of portfolio_properties (19 ms at 1,000,000 properties) while holding the row's lock.
CREATE INDEX portfolio_properties_property_idx ON portfolio_properties (property_id);
