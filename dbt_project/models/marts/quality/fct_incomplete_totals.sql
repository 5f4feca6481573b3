{#- Totals that know they are partial 不完整汇总: one row per measure x city or province x year
    whose value is a roll-up with missing children (children_reporting < children_expected), with
    the missing regions named, and whether the deadline of the year's last reporting period
    (the measure's department, int_submission_deadlines_expected) has passed as of SCORECARD_AS_OF.
    The Soda contract quality/contracts/marts/fct_incomplete_totals.contract.yml fails the gate on
    a row past its deadline and warns on one before it. Such a total has year_status
    'incomplete' in fct_indicator_progress (never met or not_met, no target_missed alert). -#}
with incomplete as (
    select
        p.measure_code,
        p.region_code,
        p.region_level,
        p.year,
        p.children_level,
        p.children_expected,
        p.children_reporting,
        p.actual_value
    from {{ ref('int_indicator_progress_assessed') }} as p
    where
        p.value_source = 'rolled_up'
        and not p.is_complete
        and p.region_level in ('city', 'province')
),

measures as (
    select
        measure_code,
        rollup_rule,
        department_code
    from {{ ref('int_measures_classified') }}
),

-- Each child at the level the total is rolled up from, and whether it gave a usable value (both
-- parts for a ratio of sums).
children as (
    select
        i.measure_code,
        i.region_code,
        i.year,
        a.region_code as child_code,
        r.name_zh as child_name_zh,
        r.name_en as child_name_en,
        case
            when m.rollup_rule = 'ratio_of_sums'
                then c.actual_numerator is not null and coalesce(c.actual_denominator, 0) > 0
            else c.actual_value is not null
        end as has_reported
    from incomplete as i
    inner join measures as m on i.measure_code = m.measure_code
    inner join {{ ref('int_region_ancestors_flattened') }} as a
        on
            i.region_code = a.ancestor_code
            and i.children_level = a.region_level
    inner join {{ ref('regions') }} as r on a.region_code = r.region_code
    left join {{ ref('int_measure_values_reconciled') }} as c
        on
            i.measure_code = c.measure_code
            and a.region_code = c.region_code
            and i.year = c.year
),

missing as (
    select
        measure_code,
        region_code,
        year,
        string_agg(child_code || ' ' || child_name_zh, ', ' order by child_code) as missing_regions_zh,
        string_agg(child_code || ' ' || child_name_en, ', ' order by child_code) as missing_regions_en
    from children
    where not has_reported
    group by measure_code, region_code, year
),

deadlines as (
    select
        department_code,
        year,
        max(deadline_date) as deadline_date
    from {{ ref('int_submission_deadlines_expected') }}
    group by department_code, year
)

select
    i.measure_code,
    i.region_code,
    i.region_level,
    i.year,
    i.children_level,
    i.children_expected,
    i.children_reporting,
    i.children_expected - i.children_reporting as children_missing,
    i.actual_value as partial_value,
    ms.missing_regions_zh,
    ms.missing_regions_en,
    d.deadline_date,
    coalesce(d.deadline_date < {{ scorecard_as_of() }}, true) as is_past_deadline
from incomplete as i
inner join measures as m on i.measure_code = m.measure_code
left join missing as ms
    on
        i.measure_code = ms.measure_code
        and i.region_code = ms.region_code
        and i.year = ms.year
left join deadlines as d
    on
        m.department_code = d.department_code
        and i.year = d.year
