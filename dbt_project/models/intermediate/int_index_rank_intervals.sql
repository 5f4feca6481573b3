{#- How sure a rank is (docs/methodology.md §7a): for every ranked region, zone and year, the
    median rank and the 5th-95th percentile rank interval over var rank_mc_draws Monte-Carlo
    draws, each draw perturbing at once
      - the weights: Dirichlet(rank_mc_weight_concentration x seed weights), each gamma variate
        by the Wilson-Hilferty approximation of a normal one;
      - the normaliser: with probability rank_mc_alt_normaliser_share the draw scores every
        dimension by distance to its best goalpost (dimension_score_alt) instead of the
        worst-best goalposts;
      - the values: every scored value x (1 + rank_mc_measurement_error x N(0, 1)).
    Only regions with an index are ranked, as in int_index_scores_aggregated, and a draw uses
    the dimensions the region has. Uniform numbers come from DuckDB's hash() of
    (rank_mc_seed, draw, what is drawn): the same seed and data give the same intervals. -#}
{%- set draws = var('rank_mc_draws') | int -%}
{%- set seed = var('rank_mc_seed') | int -%}
{%- set concentration = var('rank_mc_weight_concentration') | float -%}
{%- set sigma = var('rank_mc_measurement_error') | float -%}
{%- set alt_share = var('rank_mc_alt_normaliser_share') | float -%}
with ranked_regions as (
    select
        zone_code,
        region_code,
        region_level,
        year
    from {{ ref('int_index_scores_aggregated') }}
    where index_score is not null
),

dimensions as (
    select
        s.zone_code,
        s.dimension_code,
        s.weight / sum(s.weight) over (partition by s.zone_code) as weight_share
    from (
        select distinct
            zone_code,
            dimension_code,
            weight
        from {{ ref('int_dimension_scores_scored') }}
    ) as s
),

draws as (
    -- DuckDB's range() table function: one row per draw, its column is named range.
    select range as draw
    from range(1, {{ draws + 1 }})
),

-- One uniform number in (0, 1) per purpose: the top 53 bits of a 64-bit hash.
weight_uniforms as (
    select
        w.draw,
        d.zone_code,
        d.dimension_code,
        d.weight_share * {{ concentration }} as alpha,
        ((hash({{ seed }}, w.draw, d.dimension_code, 'w1') >> 11) + 0.5) / 9007199254740992.0 as u1,
        ((hash({{ seed }}, w.draw, d.dimension_code, 'w2') >> 11) + 0.5) / 9007199254740992.0 as u2
    from draws as w
    cross join dimensions as d
),

-- Gamma(alpha) by Wilson-Hilferty: alpha x (1 - 1/(9 alpha) + z sqrt(1/(9 alpha)))^3.
draw_weights as (
    select
        draw,
        zone_code,
        dimension_code,
        alpha * pow(
            greatest(
                0.0,
                1 - 1 / (9 * alpha) + sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) * sqrt(1 / (9 * alpha))
            ),
            3
        ) as gamma_weight
    from weight_uniforms
),

draw_normalisers as (
    select
        draw,
        ((hash({{ seed }}, draw, 'normaliser') >> 11) + 0.5) / 9007199254740992.0 < {{ alt_share }}
            as uses_alternative
    from draws
),

scores as (
    select
        s.zone_code,
        s.dimension_code,
        s.region_code,
        s.region_level,
        s.year,
        s.scored_value,
        s.goalpost_worst,
        s.goalpost_best,
        -- One integer key per scored value, hashed once: the draws hash integers only (hashing
        -- the text keys in every draw cost ten times as much).
        hash(s.dimension_code, s.region_code, s.year) as value_key
    from {{ ref('int_dimension_scores_scored') }} as s
    inner join ranked_regions as r
        on
            s.zone_code = r.zone_code
            and s.region_code = r.region_code
            and s.year = r.year
    where s.scored_value is not null
),

-- The measurement error: one 64-bit hash per draw and value, its two 32-bit halves the two
-- uniform numbers of a Box-Muller normal.
error_hashes as (
    select
        w.draw,
        s.zone_code,
        s.dimension_code,
        s.region_code,
        s.region_level,
        s.year,
        s.scored_value,
        s.goalpost_worst,
        s.goalpost_best,
        n.uses_alternative,
        w.gamma_weight,
        hash({{ seed }}, w.draw, s.value_key) as error_hash
    from scores as s
    inner join draw_weights as w
        on
            s.zone_code = w.zone_code
            and s.dimension_code = w.dimension_code
    inner join draw_normalisers as n on w.draw = n.draw
),

perturbed as (
    select
        draw,
        zone_code,
        region_code,
        region_level,
        year,
        goalpost_worst,
        goalpost_best,
        uses_alternative,
        gamma_weight,
        scored_value * (
            1 + {{ sigma }}
            * sqrt(-2 * ln(((error_hash >> 32) + 0.5) / 4294967296.0))
            * cos(2 * pi() * (((error_hash & 4294967295) + 0.5) / 4294967296.0))
        ) as value_drawn
    from error_hashes
),

rescored as (
    select
        *,
        case
            when not uses_alternative
                then least(100.0, greatest(0.0, 100.0 * ((value_drawn - goalpost_worst) / (goalpost_best - goalpost_worst))))
            when goalpost_best >= goalpost_worst
                then least(100.0, greatest(0.0, 100.0 * (value_drawn / goalpost_best)))
            when value_drawn <= 0 then 100.0
            else least(100.0, greatest(0.0, 100.0 * (goalpost_best / value_drawn)))
        end as score_drawn
    from perturbed
),

draw_indices as (
    select
        draw,
        zone_code,
        region_code,
        region_level,
        year,
        sum(gamma_weight * score_drawn) / nullif(sum(gamma_weight), 0) as index_drawn
    from rescored
    group by draw, zone_code, region_code, region_level, year
),

draw_ranks as (
    select
        *,
        rank() over (
            partition by draw, zone_code, region_level, year
            order by round(coalesce(index_drawn, 0), 6) desc
        ) as rank_drawn
    from draw_indices
)

select
    zone_code,
    region_code,
    region_level,
    year,
    count(*) as draws,
    cast(quantile_disc(rank_drawn, 0.5) as integer) as rank_median,
    cast(quantile_disc(rank_drawn, 0.05) as integer) as rank_p05,
    cast(quantile_disc(rank_drawn, 0.95) as integer) as rank_p95
from draw_ranks
group by zone_code, region_code, region_level, year
