{#- The composite index of each zone for every region and programme year
    (docs/methodology.md §6): the weighted mean of the dimension scores available,
    Σ(weight x score) / Σ(weight of the dimensions scored). coverage_pct is the share of the
    zone's dimension weight that is scored; where more than var max_missing_weight_share of the
    weight is missing there is no index. Ranks compare regions of the same level in the same
    year (rank 1 = highest index; scores equal to 6 decimals share a rank).
    Incremental per zone and year, like the index changes (config measure_zone_column): a zone's
    index, coverage and ranks of a year read that zone's dimension scores of that year only, so
    after a file only the zones its measures feed are recomputed (macros/incremental/measure_versions.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_dimension_scores_scored'],
    measure_zone_column='zone_code',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set max_missing = var('max_missing_weight_share') | float -%}
with aggregated as (
    select
        zone_code,
        region_code,
        region_level,
        year,
        count(*) as dimension_count,
        count(dimension_score) as dimensions_scored,
        {{ exact_sum('weight') }} as weight_total,
        coalesce({{ exact_sum('case when dimension_score is not null then weight end') }}, 0) as weight_scored,
        {{ exact_sum('weight * dimension_score') }}
        / nullif({{ exact_sum('case when dimension_score is not null then weight end') }}, 0) as weighted_mean_score
    from {{ ref('int_dimension_scores_scored') }}
    where {{ sc_zone_rebuild_filter(sc_measures_to_rebuild()) }}
    group by zone_code, region_code, region_level, year
),

gated as (
    select
        *,
        100.0 * (weight_scored / weight_total) as coverage_pct,
        case
            -- A mean of 0-100 scores is within 0-100; the bounds only remove rounding noise
            -- (weights such as 9 x 0.1111111111 do not sum to exactly 1).
            when 1 - weight_scored / weight_total <= {{ max_missing }}
                then least(100.0, greatest(0.0, weighted_mean_score))
        end as index_score
    from aggregated
)

select
    *,
    case
        when index_score is not null
            then rank() over (
                partition by zone_code, region_level, year, index_score is null
                -- Scores equal to 6 decimals are ties (floating-point noise is not a ranking).
                order by round(index_score, 6) desc
            )
    end as rank_in_level,
    count(index_score) over (partition by zone_code, region_level, year) as regions_ranked
from gated
order by zone_code, year
