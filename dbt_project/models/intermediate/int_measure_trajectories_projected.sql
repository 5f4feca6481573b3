{#- Where each measure x region is heading: for every row of the spine, the trajectory of the
    values observed up to that year, extended to the end-of-plan target year
    (docs/methodology.md §4):
      slope            least-squares slope of the actual values on the year (regr_slope) over
                       the observed years <= this year; 0 with a single observation
      projected value  the latest observed value + slope x (final target year - its year),
                       floored at 0 (none of the measures can be negative)
    and the projected value compared with the region's end-of-plan target. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled', 'int_targets_allocated'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure: a trajectory reads only its own measure's values and targets, so
    only the measures whose spine or targets changed are recomputed
    (macros/scorecard_incremental.sql). -#}

with spine as (
    select
        measure_code,
        region_code,
        year,
        actual_value
    from {{ ref('int_measure_values_reconciled') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

measures as (
    select
        measure_code,
        direction,
        final_target_year
    from {{ ref('int_measures_classified') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

final_targets as (
    select
        measure_code,
        region_code,
        year,
        target_value
    from {{ ref('int_targets_allocated') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

-- Years counted from the start of the programme keep the least-squares sums small.
observations as (
    select
        measure_code,
        region_code,
        year,
        actual_value,
        year - {{ var('first_year') }} as year_offset
    from spine
    where actual_value is not null
),

observed_so_far as (
    select
        s.measure_code,
        s.region_code,
        s.year,
        count(o.actual_value) as observation_count,
        -- Least-squares slope (n Σxy - Σx Σy) / (n Σx² - (Σx)²) from exact sums, so it is the
        -- same on every run (regr_slope accumulates floats in whatever order rows come, and
        -- gives NaN for one point); a slope needs two points.
        case
            when count(o.actual_value) >= 2
                then
                    (
                        count(o.actual_value) * {{ exact_sum('o.actual_value * o.year_offset') }}
                        - {{ exact_sum('o.year_offset') }} * {{ exact_sum('o.actual_value') }}
                    )
                    / (
                        count(o.actual_value) * {{ exact_sum('o.year_offset * o.year_offset') }}
                        - {{ exact_sum('o.year_offset') }} * {{ exact_sum('o.year_offset') }}
                    )
        end as trend_slope_per_year,
        max(o.year) as last_observed_year
    from spine as s
    left join observations as o
        on
            s.measure_code = o.measure_code
            and s.region_code = o.region_code
            and s.year >= o.year
    group by s.measure_code, s.region_code, s.year
),

projected as (
    select
        t.measure_code,
        t.region_code,
        t.year,
        t.observation_count,
        t.trend_slope_per_year,
        t.last_observed_year,
        last_obs.actual_value as last_observed_value,
        m.direction,
        m.final_target_year,
        case
            -- Only up to the end-of-plan year: after it there is nothing left to project to.
            when t.last_observed_year is not null and t.year <= m.final_target_year
                then greatest(
                    0,
                    last_obs.actual_value
                    + coalesce(t.trend_slope_per_year, 0) * (m.final_target_year - t.last_observed_year)
                )
        end as projected_final_value
    from observed_so_far as t
    inner join measures as m on t.measure_code = m.measure_code
    left join spine as last_obs
        on
            t.measure_code = last_obs.measure_code
            and t.region_code = last_obs.region_code
            and t.last_observed_year = last_obs.year
)

select
    p.measure_code,
    p.region_code,
    p.year,
    p.observation_count,
    p.trend_slope_per_year,
    p.last_observed_year,
    p.last_observed_value,
    p.final_target_year,
    ft.target_value as final_target_value,
    p.projected_final_value,
    {{ attainment_pct('p.projected_final_value', 'ft.target_value', 'p.direction') }} as projected_attainment_pct,
    {{ progress_status('p.projected_final_value', 'ft.target_value', 'p.direction') }} as projected_status
from projected as p
left join final_targets as ft
    on
        p.measure_code = ft.measure_code
        and p.region_code = ft.region_code
        and p.final_target_year = ft.year
