{#- County (or, for city-based measures, city) values rolled up to every higher region by each
    measure's rule (docs/methodology.md §1):
      sum            Σ value
      ratio_of_sums  Σ numerator / Σ denominator x value_scale over the parts that give both
                     (never a mean of rates)
      mean_with_min  mean of the values, with the minimum beside it
      count_meeting  up to the condition level: Σ of the underlying counts; above it: the number
                     of condition-level regions whose count is >= condition_threshold
    children_reporting / children_expected say how complete each roll-up is; children_period_end is
    the earliest date the children's values describe (a total of a Q3 and a Q4 value is as of Q3). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_annualised'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: only the measures whose year values changed are
    recomputed, from the earliest year they changed; a year rolls up that year's values only
    (macros/incremental/measure_versions.sql). -#}

with measures as (
    select * from {{ ref('int_measures_classified') }}
    where is_value_measure and rollup_rule <> 'none' and {{ sc_measure_filter('measure_code', changed_measures) }}
),

ancestors as (
    select * from {{ ref('int_region_ancestors_flattened') }}
    where distance > 0
),

years as (
    {{ programme_years() }}
),

base_values as (
    select
        v.measure_code,
        v.region_code,
        v.year,
        v.value,
        v.numerator,
        v.denominator,
        v.has_parts,
        v.source_period_end
    from {{ ref('int_measure_values_annualised') }} as v
    inner join measures as m
        on
            v.measure_code = m.measure_code
            and v.region_level = m.base_level
    where {{ sc_rebuild_filter(changed_measures, 'v.year', 'v.measure_code') }}
),

-- Which higher regions each rule rolls up to directly from the base level.
rollup_targets as (
    select
        m.measure_code,
        m.rollup_rule,
        m.value_scale,
        m.base_level,
        a.ancestor_code,
        a.ancestor_level,
        count(*) as children_expected
    from measures as m
    inner join ancestors as a on m.base_level = a.region_level
    where
        m.rollup_rule <> 'count_meeting'
        or a.ancestor_level_rank <= m.condition_level_rank
    group by
        m.measure_code, m.rollup_rule, m.value_scale, m.base_level, a.ancestor_code, a.ancestor_level
),

rolled_from_base as (
    select
        t.measure_code,
        t.ancestor_code as region_code,
        t.ancestor_level as region_level,
        y.year,
        t.rollup_rule,
        t.base_level as children_level,
        t.children_expected,
        count(
            case
                when t.rollup_rule = 'ratio_of_sums' and b.has_parts then 1
                when t.rollup_rule <> 'ratio_of_sums' and b.value is not null then 1
            end
        ) as children_reporting,
        {{ exact_sum('case when b.has_parts then b.numerator end') }} as rolled_up_numerator,
        {{ exact_sum('case when b.has_parts then b.denominator end') }} as rolled_up_denominator,
        case
            when t.rollup_rule in ('sum', 'count_meeting') then {{ exact_sum('b.value') }}
            when t.rollup_rule = 'mean_with_min' then {{ exact_sum('b.value') }} / count(b.value)
            when t.rollup_rule = 'ratio_of_sums'
                then
                    {{ exact_sum('case when b.has_parts then b.numerator end') }}
                    / nullif({{ exact_sum('case when b.has_parts then b.denominator end') }}, 0)
                    * max(t.value_scale)
        end as rolled_up_value,
        case when t.rollup_rule = 'mean_with_min' then min(b.value) end as rolled_up_min_value,
        min(case when b.value is not null then b.source_period_end end) as children_period_end
    from rollup_targets as t
    cross join years as y
    inner join ancestors as a
        on
            t.ancestor_code = a.ancestor_code
            and t.base_level = a.region_level
    left join base_values as b
        on
            t.measure_code = b.measure_code
            and a.region_code = b.region_code
            and y.year = b.year
    group by
        t.measure_code, t.ancestor_code, t.ancestor_level, y.year, t.rollup_rule, t.base_level,
        t.children_expected
),

-- count_meeting: the underlying count of every region at the condition level, as submitted
-- there, or summed from below when the base level is lower.
condition_values as (
    select
        m.measure_code,
        m.condition_threshold,
        m.condition_level_rank,
        r.region_code,
        y.year,
        coalesce(direct.value, below.rolled_up_value) as underlying_value,
        case when direct.value is not null then direct.source_period_end else below.children_period_end end
            as underlying_period_end
    from measures as m
    inner join {{ ref('regions') }} as r on m.condition_level = r.region_level
    cross join years as y
    left join {{ ref('int_measure_values_annualised') }} as direct
        on
            m.measure_code = direct.measure_code
            and r.region_code = direct.region_code
            and y.year = direct.year
    left join rolled_from_base as below
        on
            m.measure_code = below.measure_code
            and r.region_code = below.region_code
            and y.year = below.year
    where m.rollup_rule = 'count_meeting'
),

counted_above_condition as (
    select
        c.measure_code,
        a.ancestor_code as region_code,
        a.ancestor_level as region_level,
        c.year,
        'count_meeting' as rollup_rule,
        a.region_level as children_level,
        count(*) as children_expected,
        count(c.underlying_value) as children_reporting,
        cast(null as double) as rolled_up_numerator,
        cast(null as double) as rolled_up_denominator,
        cast(sum(case when c.underlying_value >= c.condition_threshold then 1 else 0 end) as double)
            as rolled_up_value,
        cast(null as double) as rolled_up_min_value,
        min(c.underlying_period_end) as children_period_end
    from condition_values as c
    inner join ancestors as a
        on
            c.region_code = a.region_code
            and c.condition_level_rank < a.ancestor_level_rank
    group by c.measure_code, a.ancestor_code, a.ancestor_level, c.year, a.region_level
    having count(c.underlying_value) > 0
)

select
    measure_code,
    region_code,
    region_level,
    year,
    rollup_rule,
    children_level,
    children_expected,
    children_reporting,
    rolled_up_numerator,
    rolled_up_denominator,
    rolled_up_value,
    rolled_up_min_value,
    children_period_end
from rolled_from_base
where children_reporting > 0 and {{ sc_rebuild_filter(changed_measures) }}

union all

select
    measure_code,
    region_code,
    region_level,
    year,
    rollup_rule,
    children_level,
    children_expected,
    children_reporting,
    rolled_up_numerator,
    rolled_up_denominator,
    rolled_up_value,
    rolled_up_min_value,
    children_period_end
from counted_above_condition
where {{ sc_rebuild_filter(changed_measures) }}
{{ sc_stored_in_measure_order() }}
