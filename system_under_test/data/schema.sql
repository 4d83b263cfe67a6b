-- athbench service schema. Tables are created without secondary indexes or foreign keys;
-- indexes.sql adds those after the bulk load (faster than maintaining them row by row).

DROP TABLE IF EXISTS athbench_meta, portfolio_properties, portfolios, users, market_transactions, properties,
    neighbourhoods, climate_zones CASCADE;

-- The marker of a database athbench seeded itself (one row, written in the seed's own transaction):
-- only a database carrying it, or one with no tables at all, is ever replaced (data/seed.py).
CREATE TABLE athbench_meta (
    schema_version  integer     NOT NULL,
    properties      bigint      NOT NULL,
    seed            bigint      NOT NULL,
    seeded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE climate_zones (
    code                 char(1) PRIMARY KEY,
    name                 text    NOT NULL,
    heating_degree_days  integer NOT NULL CHECK (heating_degree_days > 0)
);

CREATE TABLE neighbourhoods (
    id                 integer PRIMARY KEY,
    slug               text    NOT NULL UNIQUE,
    name               text    NOT NULL,
    city               text    NOT NULL,
    climate_zone       char(1) NOT NULL REFERENCES climate_zones (code),
    base_price_per_m2  double precision NOT NULL CHECK (base_price_per_m2 > 0)
);

CREATE TABLE properties (
    id                     bigint  NOT NULL,
    address                text    NOT NULL,
    neighbourhood_id       integer NOT NULL,
    climate_zone           char(1) NOT NULL,
    area_m2                double precision NOT NULL CHECK (area_m2 > 0),
    year_built             smallint NOT NULL,
    floors                 smallint NOT NULL CHECK (floors >= 1),
    insulation             text    NOT NULL,
    windows                text    NOT NULL,
    heating_system         text    NOT NULL,
    hot_water              text    NOT NULL,
    solar_fraction         double precision NOT NULL CHECK (solar_fraction >= 0 AND solar_fraction < 1),
    price_eur              double precision NOT NULL CHECK (price_eur > 0),
    -- derived by domain.energy at load time and on every update
    primary_energy_kwh_m2  double precision NOT NULL,
    energy_class           text    NOT NULL,
    potential_savings_eur  double precision NOT NULL
);

CREATE TABLE market_transactions (
    id                bigint  NOT NULL,
    property_id       bigint  NOT NULL,
    neighbourhood_id  integer NOT NULL,
    sold_on           date    NOT NULL,
    price_eur         double precision NOT NULL,
    area_m2           double precision NOT NULL,
    price_per_m2      double precision NOT NULL
);

CREATE TABLE users (
    id     bigint NOT NULL,
    name   text   NOT NULL,
    email  text   NOT NULL
);

CREATE TABLE portfolios (
    id       bigint NOT NULL,
    user_id  bigint NOT NULL,
    name     text   NOT NULL
);

CREATE TABLE portfolio_properties (
    portfolio_id  bigint NOT NULL,
    property_id   bigint NOT NULL
);
