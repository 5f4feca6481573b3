{#- Progress against every target 指标进展: one row per value measure x applicable region x
    programme year (period = 'YYYY'; the year value is the value as of year end).
    year_status: met / not_met / no_target / no_data / incomplete, final once the year is over
    (as_of after 31 December), provisional before (status_basis).
    progress_status: for the year in progress, on_track / at_risk / off_track (insufficient_data
    with one point) toward the end-of-plan target, from the trend of the dated values so far
    (docs/methodology.md §4). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_indicator_progress_assessed'],
    on_schema_change='fail',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year, like the model it publishes: only the measures and years
    recomputed there are replaced here (macros/incremental/measure_versions.sql). The contract (columns, types) is unchanged;
    an incremental run onto a table with other columns fails (on_schema_change='fail', which dbt
    requires of a contracted incremental model): column changes need a full refresh. -#}

select
    cast(measure_code as varchar) as measure_code,
    cast(indicator_code as varchar) as indicator_code,
    cast(zone_code as varchar) as zone_code,
    cast(region_code as varchar) as region_code,
    cast(region_level as varchar) as region_level,
    cast(year as varchar) as period,
    cast(year as integer) as year,
    cast(measure_kind as varchar) as measure_kind,
    cast(direction as varchar) as direction,
    cast(unit as varchar) as unit,
    cast(actual_value as double) as actual_value,
    cast(value_source as varchar) as value_source,
    cast(source_period as varchar) as source_period,
    cast(submitted_value as double) as submitted_value,
    cast(rolled_up_value as double) as rolled_up_value,
    cast(rolled_up_min_value as double) as rolled_up_min_value,
    cast(actual_numerator as double) as actual_numerator,
    cast(actual_denominator as double) as actual_denominator,
    cast(children_level as varchar) as children_level,
    cast(children_expected as integer) as children_expected,
    cast(children_reporting as integer) as children_reporting,
    cast(target_value as double) as target_value,
    cast(target_type as varchar) as target_type,
    cast(target_basis as varchar) as target_basis,
    cast(target_scope as varchar) as target_scope,
    cast(plan_value as double) as plan_value,
    cast(value_period_end as date) as value_period_end,
    cast(is_complete as boolean) as is_complete,
    cast(attainment_pct as double) as attainment_pct,
    cast(is_target_met as boolean) as is_target_met,
    cast(year_status as varchar) as year_status,
    cast(is_year_over as boolean) as is_year_over,
    cast(status_basis as varchar) as status_basis,
    cast(progress_status as varchar) as progress_status,
    cast(observation_count as integer) as trend_observation_count,
    cast(trend_slope_per_year as double) as trend_slope_per_year,
    cast(catch_up_slope_per_year as double) as catch_up_slope_per_year,
    cast(final_target_year as integer) as final_target_year,
    cast(final_target_value as double) as final_target_value,
    cast(projected_final_value as double) as projected_final_value,
    cast(projected_attainment_pct as double) as projected_attainment_pct,
    cast(projected_status as varchar) as trajectory_status
from {{ ref('int_indicator_progress_assessed') }}
where {{ sc_rebuild_filter(changed_measures) }}
{{ sc_stored_in_measure_order() }}
