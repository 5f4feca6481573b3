{#- Milestone status per region and year 里程碑进度 (EC02, the elderly-care facility layout plan):
    the status as of year end is the latest report for a period ending on or before 31 December
    (a status stays in force until a new one is reported), compared with the year's target level
    by rank: met when the level reached ranks at or above the target level.
    Only the units the list names are assessed ("11个设区市和50万人口以上县编制养老机构布局专项规划"):
    the 11 cities and the counties whose resident population (int_region_populations_filled) is at
    least var milestone_min_county_population; other counties are no_target. Cities and the
    province also get the roll-up of the required units within them (for a city: itself and its
    required counties): required_units, _reported, _met and required_met_pct, the share at or past
    the year's milestone. The province's year_status is its roll-up's: incomplete while a required
    unit has not reported, met when every one is at or past the milestone. -#}
{%- set min_population = var('milestone_min_county_population', 500000) -%}
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

required as (
    select
        s.measure_code,
        s.region_code,
        s.year,
        case s.region_level
            when 'city' then true
            when 'county' then coalesce(pop.resident_population >= {{ min_population }}, false)
            else false
        end as is_required_unit
    from spine as s
    left join {{ ref('int_region_populations_filled') }} as pop
        on
            s.region_code = pop.region_code
            and s.year = pop.year
),

assessed as (
    select
        s.measure_code,
        s.region_code,
        s.region_level,
        s.year,
        req.is_required_unit,
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
    inner join required as req
        on
            s.measure_code = req.measure_code
            and s.region_code = req.region_code
            and s.year = req.year
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
),

own_status as (
    select
        *,
        case
            when target_level_code is null then 'no_target'
            when not is_required_unit then 'no_target'
            when status_rank is null then 'no_data'
            when status_rank >= target_level_rank then 'met'
            else 'not_met'
        end as unit_status
    from assessed
),

-- The required units within each city (itself and its counties) and within the province.
rolled_up as (
    select
        u.measure_code,
        a.ancestor_code as region_code,
        u.year,
        count(*) as required_units,
        count(u.status_rank) as required_units_reported,
        count(case when u.unit_status = 'met' then 1 end) as required_units_met
    from own_status as u
    inner join {{ ref('int_region_ancestors_flattened') }} as a on u.region_code = a.region_code
    where u.is_required_unit and a.ancestor_level in ('city', 'province')
    group by u.measure_code, a.ancestor_code, u.year
),

final as (
    select
        o.*,
        r.required_units,
        r.required_units_reported,
        r.required_units_met,
        100.0 * r.required_units_met / nullif(r.required_units, 0) as required_met_pct,
        case
            when o.region_level <> 'province' then o.unit_status
            when o.target_level_code is null or r.required_units is null then 'no_target'
            when r.required_units_reported < r.required_units then 'incomplete'
            when r.required_units_met = r.required_units then 'met'
            else 'not_met'
        end as year_status
    from own_status as o
    left join rolled_up as r
        on
            o.measure_code = r.measure_code
            and o.region_code = r.region_code
            and o.year = r.year
)

select
    cast(measure_code as varchar) as measure_code,
    cast(region_code as varchar) as region_code,
    cast(region_level as varchar) as region_level,
    cast(year as varchar) as period,
    cast(year as integer) as year,
    cast(is_required_unit as boolean) as is_required_unit,
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
    cast(required_units as integer) as required_units,
    cast(required_units_reported as integer) as required_units_reported,
    cast(required_units_met as integer) as required_units_met,
    cast(required_met_pct as double) as required_met_pct,
    cast(year_status as varchar) as year_status,
    cast(is_year_over as boolean) as is_year_over,
    cast(case when is_year_over then 'final' else 'provisional' end as varchar) as status_basis
from final
