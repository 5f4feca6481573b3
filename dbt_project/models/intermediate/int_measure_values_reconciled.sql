{#- The spine of the indicator facts: every value measure x applicable region x programme year,
    with the value submitted for that region (if any) beside the roll-up from below (if any).
    A value submitted directly for a city or the province is used as submitted; the roll-up is
    kept beside it and their difference is a quality signal (fct_rollup_differences).
    Completeness: a submitted value is complete by itself; a roll-up is complete when every child
    it expects reported (children_reporting = children_expected). value_period_end is the date the
    value describes (the submitted period's end, or the earliest of the children's).
    Applicable regions: the base level and every level above it for measures that roll up; the
    levels listed in measures.region_levels for measures that do not. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_annualised', 'int_measure_values_rolled_up'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: only the measures whose year values or roll-ups changed
    are recomputed, from the earliest year they changed; a year reads that year's values only
    (macros/incremental/measure_versions.sql). -#}

with measures as (
    select * from {{ ref('int_measures_classified') }}
    where is_value_measure and {{ sc_measure_filter('measure_code', changed_measures) }}
),

years as (
    {{ programme_years() }}
),

submitted as (
    select * from {{ ref('int_measure_values_annualised') }}
    where {{ sc_rebuild_filter(changed_measures) }}
),

rolled_up as (
    select * from {{ ref('int_measure_values_rolled_up') }}
    where {{ sc_rebuild_filter(changed_measures) }}
),

spine as (
    select
        m.measure_code,
        r.region_code,
        r.region_level,
        y.year
    from measures as m
    inner join {{ ref('regions') }} as r
        on
            (
                m.rollup_rule <> 'none'
                and {{ region_level_rank('r.region_level') }} >= m.base_level_rank
            )
            or (
                m.rollup_rule = 'none'
                and {{ sc_concat(["'|'", "m.region_levels", "'|'"]) }}
                like {{ sc_concat(["'%|'", "r.region_level", "'|%'"]) }}
            )
    cross join years as y
    where {{ sc_rebuild_filter(changed_measures, 'y.year', 'm.measure_code') }}
)

select
    s.measure_code,
    s.region_code,
    s.region_level,
    s.year,
    v.source_period,
    v.source_period_kind,
    v.file_id as source_file_id,
    v.row_ref as source_row_ref,
    v.value as submitted_value,
    u.rolled_up_value,
    u.rolled_up_min_value,
    u.children_level,
    u.children_expected,
    u.children_reporting,
    coalesce(v.value, u.rolled_up_value) as actual_value,
    case when v.value is not null then v.numerator else u.rolled_up_numerator end as actual_numerator,
    case when v.value is not null then v.denominator else u.rolled_up_denominator end as actual_denominator,
    case
        when v.value is not null then 'submitted'
        when u.rolled_up_value is not null then 'rolled_up'
    end as value_source,
    case
        when v.value is not null then v.source_period_end
        when u.rolled_up_value is not null then u.children_period_end
    end as value_period_end,
    case
        when v.value is not null then true
        when u.rolled_up_value is not null then u.children_reporting >= u.children_expected
    end as is_complete
from spine as s
left join submitted as v
    on
        s.measure_code = v.measure_code
        and s.region_code = v.region_code
        and s.year = v.year
left join rolled_up as u
    on
        s.measure_code = u.measure_code
        and s.region_code = u.region_code
        and s.year = u.year
{{ sc_stored_in_measure_order() }}
