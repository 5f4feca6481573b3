{#- Every value measure x applicable region x programme year assessed against its target:
    attainment (direction-aware), whether the target is met, whether the year is over, the
    year status and the trajectory toward the end-of-plan target (docs/methodology.md §2-4).
    Completeness: a roll-up with missing children, or a year that is over whose value describes
    only part of it, is year_status 'incomplete' (never met / not_met).
    Calendar: a part-year value (a quarter or month before 31 December) is compared with the plan
    value at its date: the previous year's target + the share of the year elapsed x the year's
    step (the year's target itself when there is no previous year's target); a year-end value with
    the year's target.
    fct_indicator_progress publishes it with a typed contract. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled', 'int_targets_scoped', 'int_measure_trajectories_projected'],
    measure_versions_as_of=true,
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: a row reads only its own measure's spine, target and
    trajectory of its year and the target of the year before (rows are keyed by measure_code, so an
    indicator with several measures is several independent row sets), so only the measures whose
    inputs changed are recomputed, from the earliest year they changed; the year of as_of is part
    of the versions, since year_status / progress_status depend on it
    (macros/incremental/measure_versions.sql). -#}

with spine as (
    select * from {{ ref('int_measure_values_reconciled') }}
    where {{ sc_rebuild_filter(changed_measures) }}
),

measures as (
    select * from {{ ref('int_measures_classified') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

-- every year of the measures: a part-year value's plan starts from the year before's target
targets as (
    select * from {{ ref('int_targets_scoped') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

-- The share of its year a value describes: 1 at 31 December, 181/365 at 30 June.
dated as (
    select
        s.*,
        s.value_period_end < make_date(s.year, 12, 31) as is_part_year,
        date_diff('day', make_date(s.year - 1, 12, 31), s.value_period_end)
        / date_diff('day', make_date(s.year - 1, 12, 31), make_date(s.year, 12, 31)) as year_elapsed_share
    from spine as s
),

planned as (
    select
        d.*,
        t.target_value,
        t.target_type,
        t.target_basis,
        t.target_scope,
        case
            when t.target_value is null then null
            when not coalesce(d.is_part_year, false) or prev.target_value is null then t.target_value
            else prev.target_value + (t.target_value - prev.target_value) * d.year_elapsed_share
        end as plan_value
    from dated as d
    left join targets as t
        on
            d.measure_code = t.measure_code
            and d.region_code = t.region_code
            and d.year = t.year
    left join targets as prev
        on
            d.measure_code = prev.measure_code
            and d.region_code = prev.region_code
            and d.year - 1 = prev.year
),

trajectories as (
    select * from {{ ref('int_measure_trajectories_projected') }}
    where {{ sc_rebuild_filter(changed_measures) }}
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
        s.value_period_end,
        s.is_part_year,
        s.year_elapsed_share,
        coalesce(s.is_complete, true) as is_complete,
        m.measure_kind,
        m.direction,
        m.unit,
        s.target_value,
        s.target_type,
        s.target_basis,
        s.target_scope,
        s.plan_value,
        {{ attainment_pct('s.actual_value', 's.plan_value', 'm.direction') }} as attainment_pct,
        {{ target_is_met('s.actual_value', 's.plan_value', 'm.direction') }} as is_target_met,
        {{ year_is_over('s.year') }} as is_year_over,
        s.year <= {{ scorecard_as_of_year() }} as has_year_started,
        p.trend_slope_per_year,
        p.observation_count,
        p.catch_up_slope_per_year,
        p.final_target_year,
        p.final_target_value,
        p.projected_final_value,
        p.projected_attainment_pct,
        p.projected_status
    from planned as s
    inner join measures as m on s.measure_code = m.measure_code
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
        when not is_complete then 'incomplete'
        when is_year_over and is_part_year then 'incomplete'
        when is_target_met then 'met'
        else 'not_met'
    end as year_status,
    case when is_year_over then 'final' else 'provisional' end as status_basis,
    -- Progress is judged for the year in progress only; a year that is over has its verdict.
    case
        when not is_year_over and has_year_started and year <= final_target_year then projected_status
    end as progress_status
from assessed
{{ sc_stored_in_measure_order() }}
