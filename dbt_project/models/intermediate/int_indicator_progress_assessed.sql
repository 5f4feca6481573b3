{#- Every value measure x applicable region x programme year assessed against its target:
    attainment (direction-aware), whether the target is met, whether the year is over, the
    year status and the trajectory toward the end-of-plan target (docs/methodology.md §2-4).
    fct_indicator_progress publishes it with a typed contract. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled', 'int_targets_allocated', 'int_measure_trajectories_projected'],
    measure_versions_as_of=true,
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure: a row reads only its own measure's spine, target and trajectory
    (rows are keyed by measure_code, so an indicator with several measures is several independent
    row sets), so only the measures whose inputs changed are recomputed; the year of as_of is part
    of the versions, since year_status / progress_status depend on it
    (macros/scorecard_incremental.sql). -#}

with spine as (
    select * from {{ ref('int_measure_values_reconciled') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

measures as (
    select * from {{ ref('int_measures_classified') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

targets as (
    select * from {{ ref('int_targets_allocated') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

trajectories as (
    select * from {{ ref('int_measure_trajectories_projected') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

assessed as (
    select
        s.measure_code,
        m.indicator_code,
        m.zone_code,
        s.region_code,
        s.region_level,
        s.year,
        s.source_period,
        s.value_source,
        s.actual_value,
        s.submitted_value,
        s.rolled_up_value,
        s.rolled_up_min_value,
        s.actual_numerator,
        s.actual_denominator,
        s.children_level,
        s.children_expected,
        s.children_reporting,
        m.measure_kind,
        m.direction,
        m.unit,
        t.target_value,
        t.target_type,
        t.target_basis,
        t.allocation_share,
        {{ attainment_pct('s.actual_value', 't.target_value', 'm.direction') }} as attainment_pct,
        {{ target_is_met('s.actual_value', 't.target_value', 'm.direction') }} as is_target_met,
        {{ year_is_over('s.year') }} as is_year_over,
        s.year <= {{ scorecard_as_of_year() }} as has_year_started,
        p.trend_slope_per_year,
        p.observation_count,
        p.final_target_year,
        p.final_target_value,
        p.projected_final_value,
        p.projected_attainment_pct,
        p.projected_status
    from spine as s
    inner join measures as m on s.measure_code = m.measure_code
    left join targets as t
        on
            s.measure_code = t.measure_code
            and s.region_code = t.region_code
            and s.year = t.year
    left join trajectories as p
        on
            s.measure_code = p.measure_code
            and s.region_code = p.region_code
            and s.year = p.year
)

select
    *,
    case
        when target_value is null then 'no_target'
        when actual_value is null then 'no_data'
        when is_target_met then 'met'
        else 'not_met'
    end as year_status,
    case when is_year_over then 'final' else 'provisional' end as status_basis,
    -- Progress is judged for the year in progress only; a year that is over has its verdict.
    case
        when not is_year_over and has_year_started and year <= final_target_year then projected_status
    end as progress_status
from assessed
