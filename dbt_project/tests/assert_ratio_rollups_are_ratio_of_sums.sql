{#- Every city and provincial value rolled up for a ratio_of_sums measure (rates, ratios,
    densities) equals Σ numerators / Σ denominators x value_scale of its counties, recomputed here
    independently from the annualised county values: never a mean of the county rates. -#}
with measures as (
    select
        measure_code,
        value_scale
    from {{ ref('int_measures_classified') }}
    where rollup_rule = 'ratio_of_sums' and base_level = 'county'
),

county_parts as (
    select
        v.measure_code,
        v.year,
        r.city_code,
        city.parent_code as province_code,
        v.numerator,
        v.denominator
    from {{ ref('int_measure_values_annualised') }} as v
    inner join {{ ref('regions') }} as r on v.region_code = r.region_code
    -- each county reaches its own province through its city (never every province: with
    -- several provinces, as at national scale, a cross join would mix them)
    inner join {{ ref('regions') }} as city on r.city_code = city.region_code
    where v.region_level = 'county' and v.has_parts
),

expected as (
    select
        measure_code,
        year,
        city_code as region_code,
        sum(numerator) / sum(denominator) as ratio
    from county_parts
    group by measure_code, year, city_code
    union all
    select
        measure_code,
        year,
        province_code as region_code,
        sum(numerator) / sum(denominator) as ratio
    from county_parts
    group by measure_code, year, province_code
)

select
    f.measure_code,
    f.region_code,
    f.year,
    f.actual_value,
    e.ratio * m.value_scale as expected_value
from {{ ref('fct_indicator_progress') }} as f
inner join measures as m on f.measure_code = m.measure_code
inner join expected as e
    on
        f.measure_code = e.measure_code
        and f.region_code = e.region_code
        and f.year = e.year
where
    f.value_source = 'rolled_up'
    and abs(f.actual_value - e.ratio * m.value_scale) > 0.000000001 * abs(e.ratio * m.value_scale)
