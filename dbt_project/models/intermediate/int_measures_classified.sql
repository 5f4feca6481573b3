{#- One row per measure with what the roll-up, targets and scoring need to know about it:
    the lowest level values are submitted at (the roll-up base), level ranks, and the year and
    provincial value of the end-of-plan target (the last year with a target in the window). -#}
with measures as (
    select * from {{ ref('measures') }}
),

targets_in_window as (
    select
        measure_code,
        year,
        target_value
    from {{ ref('indicator_targets') }}
    where year between {{ var('first_year') }} and {{ var('last_year') }}
),

final_targets as (
    select
        measure_code,
        max(year) as final_target_year
    from targets_in_window
    group by measure_code
),

classified as (
    select
        m.measure_code,
        m.indicator_code,
        m.zone_code,
        m.name_zh,
        m.name_en,
        m.unit,
        m.unit_zh,
        m.measure_kind,
        m.direction,
        m.rollup_rule,
        cast(m.value_scale as double) as value_scale,
        m.population_base,
        cast(m.condition_threshold as double) as condition_threshold,
        m.condition_level,
        m.region_levels,
        coalesce(cast(m.is_cumulative as boolean), false) as is_cumulative,
        coalesce(cast(m.has_annual_targets as boolean), false) as has_annual_targets,
        m.department_code,
        m.submitted_via,
        -- Values are rolled up from the lowest level a measure may be submitted at.
        case
            when {{ sc_concat(["'|'", "m.region_levels", "'|'"]) }} like '%|county|%' then 'county'
            when {{ sc_concat(["'|'", "m.region_levels", "'|'"]) }} like '%|city|%' then 'city'
            else 'province'
        end as base_level
    from measures as m
)

select
    c.*,
    {{ region_level_rank('c.base_level') }} as base_level_rank,
    {{ region_level_rank('c.condition_level') }} as condition_level_rank,
    c.submitted_via = 'values' and c.measure_kind <> 'milestone' as is_value_measure,
    f.final_target_year,
    t.target_value as final_target_value
from classified as c
left join final_targets as f on c.measure_code = f.measure_code
left join targets_in_window as t
    on
        f.measure_code = t.measure_code
        and f.final_target_year = t.year
