{#- Milestone status per region and year 里程碑进度 (EC02, the elderly-care facility layout plan):
    the status as of year end is the latest report for a period ending on or before 31 December
    (a status stays in force until a new one is reported), compared with the year's target level
    by rank: met when the level reached ranks at or above the target level. -#}
with measures as (
    select * from {{ ref('int_measures_classified') }}
    where measure_kind = 'milestone'
),

years as (
    {{ programme_years() }}
),

spine as (
    select
        m.measure_code,
        r.region_code,
        r.region_level,
        y.year
    from measures as m
    inner join {{ ref('regions') }} as r
        on {{ sc_concat(["'|'", "m.region_levels", "'|'"]) }} like {{ sc_concat(["'%|'", "r.region_level", "'|%'"]) }}
    cross join years as y
),

as_of_year_end as (
    select
        item_code as measure_code,
        region_code,
        year,
        status_code,
        status_period,
        status_date,
        is_reported_in_year
    from {{ ref('int_status_reports_carried_forward') }}
),

levels as (
    select
        measure_code,
        level_code,
        cast(level_rank as integer) as level_rank,
        name_zh,
        name_en
    from {{ ref('milestone_levels') }}
),

assessed as (
    select
        s.measure_code,
        s.region_code,
        s.region_level,
        s.year,
        a.status_code,
        reached.level_rank as status_rank,
        reached.name_zh as status_name_zh,
        reached.name_en as status_name_en,
        a.status_period,
        a.status_date,
        coalesce(a.is_reported_in_year, false) as is_reported_in_year,
        t.target_level_code,
        target.level_rank as target_level_rank,
        t.target_text_zh,
        t.target_text_en,
        {{ year_is_over('s.year') }} as is_year_over
    from spine as s
    left join as_of_year_end as a
        on
            s.measure_code = a.measure_code
            and s.region_code = a.region_code
            and s.year = a.year
    left join levels as reached
        on
            a.measure_code = reached.measure_code
            and a.status_code = reached.level_code
    left join {{ ref('milestone_targets') }} as t
        on
            s.measure_code = t.measure_code
            and s.year = t.year
    left join levels as target
        on
            t.measure_code = target.measure_code
            and t.target_level_code = target.level_code
)

select
    cast(measure_code as varchar) as measure_code,
    cast(region_code as varchar) as region_code,
    cast(region_level as varchar) as region_level,
    cast(year as varchar) as period,
    cast(year as integer) as year,
    cast(status_code as varchar) as status_code,
    cast(status_rank as integer) as status_rank,
    cast(status_name_zh as varchar) as status_name_zh,
    cast(status_name_en as varchar) as status_name_en,
    cast(status_period as varchar) as status_period,
    cast(status_date as date) as status_date,
    cast(is_reported_in_year as boolean) as is_reported_in_year,
    cast(target_level_code as varchar) as target_level_code,
    cast(target_level_rank as integer) as target_level_rank,
    cast(target_text_zh as varchar) as target_text_zh,
    cast(target_text_en as varchar) as target_text_en,
    cast(
        case
            when target_level_code is null then 'no_target'
            when status_rank is null then 'no_data'
            when status_rank >= target_level_rank then 'met'
            else 'not_met'
        end as varchar
    ) as year_status,
    cast(is_year_over as boolean) as is_year_over,
    cast(case when is_year_over then 'final' else 'provisional' end as varchar) as status_basis
from assessed
