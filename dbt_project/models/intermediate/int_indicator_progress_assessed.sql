{#- Every value measure x applicable region x programme year assessed against its target:
    attainment (direction-aware), whether the target is met, whether the year is over, the
    year status and the trajectory toward the end-of-plan target (docs/methodology.md §2-4).
    fct_indicator_progress publishes it with a typed contract. -#}
with spine as (
    select * from {{ ref('int_measure_values_reconciled') }}
),

measures as (
    select * from {{ ref('int_measures_classified') }}
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
    left join {{ ref('int_targets_allocated') }} as t
        on
            s.measure_code = t.measure_code
            and s.region_code = t.region_code
            and s.year = t.year
    left join {{ ref('int_measure_trajectories_projected') }} as p
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
