{#- Where each measure x region is heading: for every row of the spine, the trajectory of the
    values observed up to that year, placed on the date each value describes (value_period_end: a
    2023-Q2 value sits at 2023-06-30, not at the year end), extended to the end of the end-of-plan
    target year (docs/methodology.md §4):
      slope            least-squares slope of the values on their dates (per day, reported per year
                       of 365.25 days) over the observations up to this year; two points at least
      projected value  the latest observed value + slope x (31 December of the final target year -
                       its date), floored at 0 (none of the measures can be negative)
      catch-up slope   the growth per year still needed to reach the end-of-plan target from the
                       latest value by that date
    One observation gives trajectory status insufficient_data (no flat projection); once the latest
    value describes the end of the final target year or later there is nothing to project (no
    projection, no status). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled', 'int_targets_scoped'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: a trajectory reads only its own measure's values up to its
    year and targets (the final year's target comes from the seeds alone), so only the measures
    whose spine or targets changed are recomputed, from the earliest year they changed
    (macros/incremental/measure_versions.sql). -#}

with spine as (
    select
        measure_code,
        region_code,
        year,
        actual_value,
        value_period_end
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
    from {{ ref('int_targets_scoped') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

-- Days counted from the start of the programme keep the least-squares sums small.
observations as (
    select
        measure_code,
        region_code,
        year,
        actual_value,
        value_period_end,
        date_diff('day', make_date({{ var('first_year') }}, 1, 1), value_period_end) as day_offset
    from spine
    where actual_value is not null and value_period_end is not null
),

observed_so_far as (
    select
        s.measure_code,
        s.region_code,
        s.year,
        count(o.actual_value) as observation_count,
        -- Least-squares slope (n Σxy - Σx Σy) / (n Σx² - (Σx)²) from exact sums, so it is the
        -- same on every run (regr_slope accumulates floats in whatever order rows come); per day,
        -- x 365.25 per year. A slope needs two points.
        case
            when count(o.actual_value) >= 2
                then
                    (
                        count(o.actual_value) * {{ exact_sum('o.actual_value * o.day_offset') }}
                        - {{ exact_sum('o.day_offset') }} * {{ exact_sum('o.actual_value') }}
                    )
                    / nullif(
                        count(o.actual_value) * {{ exact_sum('o.day_offset * o.day_offset') }}
                        - {{ exact_sum('o.day_offset') }} * {{ exact_sum('o.day_offset') }},
                        0
                    )
                    * 365.25
        end as trend_slope_per_year,
        max(o.year) as last_observed_year
    from spine as s
    left join observations as o
        on
            s.measure_code = o.measure_code
            and s.region_code = o.region_code
            and s.year >= o.year
    where {{ sc_rebuild_filter(changed_measures, 's.year', 's.measure_code') }}
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
        last_obs.value_period_end as last_observed_period_end,
        m.direction,
        m.final_target_year,
        make_date(m.final_target_year, 12, 31) as final_target_date,
        -- Years (of 365.25 days) from the latest value to the end of the final target year.
        date_diff('day', last_obs.value_period_end, make_date(m.final_target_year, 12, 31)) / 365.25
            as years_to_final_target
    from observed_so_far as t
    inner join measures as m on t.measure_code = m.measure_code
    left join observations as last_obs
        on
            t.measure_code = last_obs.measure_code
            and t.region_code = last_obs.region_code
            and t.last_observed_year = last_obs.year
),

with_final as (
    select
        p.*,
        ft.target_value as final_target_value,
        -- Something is left to project only while the latest value is before the end of the plan.
        p.years_to_final_target > 0 and ft.target_value is not null as has_time_left,
        case
            when p.years_to_final_target > 0 and ft.target_value is not null and p.observation_count >= 2
                then greatest(0, p.last_observed_value + p.trend_slope_per_year * p.years_to_final_target)
        end as projected_final_value,
        case
            when p.years_to_final_target > 0 and ft.target_value is not null
                then (ft.target_value - p.last_observed_value) / p.years_to_final_target
        end as catch_up_slope_per_year
    from projected as p
    left join final_targets as ft
        on
            p.measure_code = ft.measure_code
            and p.region_code = ft.region_code
            and p.final_target_year = ft.year
)

select
    measure_code,
    region_code,
    year,
    observation_count,
    trend_slope_per_year,
    last_observed_year,
    last_observed_value,
    last_observed_period_end,
    final_target_year,
    final_target_value,
    projected_final_value,
    catch_up_slope_per_year,
    {{ attainment_pct('projected_final_value', 'final_target_value', 'direction') }} as projected_attainment_pct,
    case
        when not has_time_left then null
        when observation_count < 2 then 'insufficient_data'
        else {{ progress_status('projected_final_value', 'final_target_value', 'direction') }}
    end as projected_status
from with_final
{{ sc_stored_in_measure_order() }}
