-- L3 cache: materialized views of the expensive aggregates, refreshed CONCURRENTLY on a schedule
-- by cache/materialized.py. Idempotent; created after the tables exist (schema.sql drops them
-- with CASCADE on re-seed, and the refresher creates them again).

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_market_stats AS
SELECT n.id AS neighbourhood_id,
       n.slug, n.name, n.city, n.climate_zone,
       coalesce(t.n, 0) AS transactions,
       t.q AS price_per_m2_quartiles,
       coalesce(c.classes, '{}'::jsonb) AS class_distribution,
       now() AS refreshed_at
FROM neighbourhoods n
LEFT JOIN (
    SELECT neighbourhood_id, count(*) AS n,
           percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY price_per_m2) AS q
    FROM market_transactions GROUP BY neighbourhood_id
) t ON t.neighbourhood_id = n.id
LEFT JOIN (
    SELECT neighbourhood_id, jsonb_object_agg(energy_class, n) AS classes
    FROM (SELECT neighbourhood_id, energy_class, count(*) AS n FROM properties
          GROUP BY neighbourhood_id, energy_class) per_class
    GROUP BY neighbourhood_id
) c ON c.neighbourhood_id = n.id
WITH DATA;

CREATE UNIQUE INDEX IF NOT EXISTS mv_market_stats_slug ON mv_market_stats (slug);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_portfolio_stats AS
SELECT u.id AS user_id,
       u.name AS user_name,
       (SELECT count(*) FROM portfolios pf WHERE pf.user_id = u.id) AS portfolios,
       coalesce(h.properties, 0) AS properties,
       coalesce(h.area, 0) AS total_area_m2,
       coalesce(h.value, 0) AS total_value_eur,
       coalesce(h.savings, 0) AS total_savings_eur,
       h.avg_ep AS average_primary_energy_kwh_m2,
       coalesce(h.classes, '{}'::jsonb) AS class_distribution,
       now() AS refreshed_at
FROM users u
LEFT JOIN (
    SELECT user_id, sum(n)::bigint AS properties, sum(area) AS area, sum(value) AS value, sum(savings) AS savings,
           sum(ep_sum) / nullif(sum(n), 0) AS avg_ep, jsonb_object_agg(energy_class, n) AS classes
    FROM (SELECT pf.user_id, p.energy_class, count(*) AS n, sum(p.area_m2) AS area, sum(p.price_eur) AS value,
                 sum(p.potential_savings_eur) AS savings, sum(p.primary_energy_kwh_m2) AS ep_sum
          FROM portfolios pf
          JOIN portfolio_properties pp ON pp.portfolio_id = pf.id
          JOIN properties p ON p.id = pp.property_id
          GROUP BY pf.user_id, p.energy_class) per_class
    GROUP BY user_id
) h ON h.user_id = u.id
WITH DATA;

CREATE UNIQUE INDEX IF NOT EXISTS mv_portfolio_stats_user ON mv_portfolio_stats (user_id);
