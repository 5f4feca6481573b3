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
    (rank_mc_seed, draw, what is drawn): the same seed and data give the same intervals.
    Cost (bench/notes.md): a ranked index value carries its dimensions as short lists (one row
    per index value and draw, no join and regrouping per scored value and draw), all keys are
    integers, and the model is incremental per ranking (zone x year): a build redraws only the
    rankings whose inputs changed (macros/incremental/rank_intervals.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_rankings',
    on_schema_change='append_new_columns'
) }}
{%- set draws = var('rank_mc_draws') | int -%}
{%- set seed = var('rank_mc_seed') | int -%}
{%- set concentration = var('rank_mc_weight_concentration') | float -%}
{%- set sigma = var('rank_mc_measurement_error') | float -%}
{%- set alt_share = var('rank_mc_alt_normaliser_share') | float -%}
with fingerprints as (
    {{ rank_interval_fingerprints_sql() | indent(4) }}
),

rankings_to_draw as (
    -- On an incremental run, rankings whose stored fingerprint is the current one keep their rows.
    select
        c.zone_code,
        c.year,
        c.input_fingerprint
    from fingerprints as c
    where
        {% if rank_intervals_keep_rows() -%}
            not exists (
                select 1
                from {{ this }} as t
                where
                    t.zone_code = c.zone_code
                    and t.year = c.year
                    and t.input_fingerprint = c.input_fingerprint
            )
        {%- else -%}
            true
        {%- endif %}
),

ranked_regions as (
    select
        a.zone_code,
        a.region_code,
        a.region_level,
        a.year,
        k.input_fingerprint,
        -- Integer keys for the draws: one per ranked index value, one per ranking.
        row_number() over (order by a.zone_code, a.region_level, a.year, a.region_code) as index_id,
        dense_rank() over (order by a.zone_code, a.region_level, a.year) as ranking_id
    from {{ ref('int_index_scores_aggregated') }} as a
    inner join rankings_to_draw as k
        on
            a.zone_code = k.zone_code
            and a.year = k.year
    where a.index_score is not null
),

dimensions as (
    select
        s.zone_code,
        s.dimension_code,
        s.weight / sum(s.weight) over (partition by s.zone_code) as weight_share,
        -- The dimension's place in its zone's list of draw weights.
        row_number() over (partition by s.zone_code order by s.dimension_code) as dimension_no
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
        d.dimension_no,
        d.weight_share * {{ concentration }} as alpha,
        ((hash({{ seed }}, w.draw, d.dimension_code, 'w1') >> 11) + 0.5) / 9007199254740992.0 as u1,
        ((hash({{ seed }}, w.draw, d.dimension_code, 'w2') >> 11) + 0.5) / 9007199254740992.0 as u2
    from draws as w
    cross join dimensions as d
),

-- Gamma(alpha) by Wilson-Hilferty: alpha x (1 - 1/(9 alpha) + z sqrt(1/(9 alpha)))^3; one row
-- per draw and zone: the list of its dimensions' gamma weights and the draw's normaliser.
draw_weights as (
    select
        draw,
        zone_code,
        list(
            alpha * pow(
                greatest(
                    0.0,
                    1 - 1 / (9 * alpha) + sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) * sqrt(1 / (9 * alpha))
                ),
                3
            )
            order by dimension_no
        ) as gamma_weights,
        any_value(
            ((hash({{ seed }}, draw, 'normaliser') >> 11) + 0.5) / 9007199254740992.0 < {{ alt_share }}
        ) as uses_alternative
    from weight_uniforms
    group by draw, zone_code
),

-- One row per ranked index value: its scored dimensions as lists (in dimension_no order).
-- Materialized: DuckDB rewrites list(x order by x) as list_sort(list(x)) and evaluated that sort
-- after the join with the draws, once per draw (national 60 months: 15.9 M list sorts instead of
-- 79,600; bench/notes.md). The lists are the same either way.
index_values as materialized (
    select
        r.index_id,
        r.ranking_id,
        r.zone_code,
        list(d.dimension_no order by d.dimension_no) as dimension_nos,
        list(s.scored_value order by d.dimension_no) as scored_values,
        list(s.goalpost_worst order by d.dimension_no) as goalposts_worst,
        list(s.goalpost_best order by d.dimension_no) as goalposts_best,
        -- One integer key per scored value, hashed once: the draws hash integers only.
        list(hash(s.dimension_code, s.region_code, s.year) order by d.dimension_no) as value_keys
    from {{ ref('int_dimension_scores_scored') }} as s
    inner join ranked_regions as r
        on
            s.zone_code = r.zone_code
            and s.region_code = r.region_code
            and s.year = r.year
    inner join dimensions as d
        on
            s.zone_code = d.zone_code
            and s.dimension_code = d.dimension_code
    where s.scored_value is not null
    group by r.index_id, r.ranking_id, r.zone_code
),

index_draws as (
    select
        w.draw,
        w.gamma_weights,
        w.uses_alternative,
        v.*
    from index_values as v
    inner join draw_weights as w on v.zone_code = w.zone_code
),

-- The measurement error: one 64-bit hash per draw and value, its two 32-bit halves the two
-- uniform numbers of a Box-Muller normal.
draw_values as (
    select
        draw,
        index_id,
        ranking_id,
        uses_alternative,
        scored_values,
        goalposts_worst,
        goalposts_best,
        list_transform(dimension_nos, lambda n: gamma_weights[n]) as weights,
        list_transform(value_keys, lambda k: hash({{ seed }}, draw, k)) as error_hashes
    from index_draws
),

perturbed as (
    select
        draw,
        index_id,
        ranking_id,
        uses_alternative,
        goalposts_worst,
        goalposts_best,
        weights,
        list_transform(
            range(1, len(weights) + 1),
            lambda i: scored_values[i] * (
                1 + {{ sigma }}
                * sqrt(-2 * ln(((error_hashes[i] >> 32) + 0.5) / 4294967296.0))
                * cos(2 * pi() * (((error_hashes[i] & 4294967295) + 0.5) / 4294967296.0))
            )
        ) as values_drawn
    from draw_values
),

-- Narrow integer columns from here on: the ranking holds every draw of every index value.
draw_indices as (
    select
        cast(draw as integer) as draw,
        cast(index_id as integer) as index_id,
        cast(ranking_id as integer) as ranking_id,
        -- The draw's normaliser picked once per row, not once per dimension inside the lambda: the
        -- same terms summed in the same order (national 60 months, the model's SQL alone: 25.5-27.4
        -- -> 22.5-22.9 s CPU; the same 79,600 rows).
        case
            when not uses_alternative
                then
                    list_sum(
                        list_transform(
                            range(1, len(weights) + 1),
                            lambda i: weights[i] * least(100.0, greatest(0.0, 100.0 * (
                                (values_drawn[i] - goalposts_worst[i]) / (goalposts_best[i] - goalposts_worst[i])
                            )))
                        )
                    )
            else list_sum(
                list_transform(
                    range(1, len(weights) + 1),
                    lambda i: weights[i] * case
                        when goalposts_best[i] >= goalposts_worst[i]
                            then least(100.0, greatest(0.0, 100.0 * (values_drawn[i] / goalposts_best[i])))
                        when values_drawn[i] <= 0 then 100.0
                        else least(100.0, greatest(0.0, 100.0 * (goalposts_best[i] / values_drawn[i])))
                    end
                )
            )
        end / nullif(list_sum(weights), 0) as index_drawn
    from perturbed
),

draw_ranks as (
    select
        index_id,
        cast(rank() over (
            partition by draw, ranking_id
            order by round(coalesce(index_drawn, 0), 6) desc
        ) as integer) as rank_drawn
    from draw_indices
),

-- The percentiles from each index value's sorted list of ranks (about 200 integers): the
-- q-quantile is quantile_disc's, the element at position max(1, ceil(n x q)). quantile_disc over
-- every draw kept all ranks in its holistic state and ran out of memory at national size; the
-- rank counts and cumulative windows that replaced it cost more (national 60 months, the model's
-- SQL alone: 22.1 -> 20.2 s CPU, peak 1,018 -> 853 MiB; the same 79,600 rows, bench/notes.md).
rank_lists as (
    select
        index_id,
        count(*) as draws,
        list_sort(list(rank_drawn)) as ranks
    from draw_ranks
    group by index_id
),

intervals as (
    select
        index_id,
        draws,
        cast(ranks[cast(greatest(1, ceil(draws * 0.5)) as bigint)] as integer) as rank_median,
        cast(ranks[cast(greatest(1, ceil(draws * 0.05)) as bigint)] as integer) as rank_p05,
        cast(ranks[cast(greatest(1, ceil(draws * 0.95)) as bigint)] as integer) as rank_p95
    from rank_lists
)

select
    r.zone_code,
    r.region_code,
    r.region_level,
    r.year,
    cast(i.draws as bigint) as draws,
    i.rank_median,
    i.rank_p05,
    i.rank_p95,
    r.input_fingerprint,
    {{ rank_interval_invocation_sql() }} as invocation_id
from intervals as i
inner join ranked_regions as r on i.index_id = r.index_id
