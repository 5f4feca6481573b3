{#- Where a city or the province submitted a value directly and a roll-up from below exists too:
    both values and their difference 上报值与汇总值差异. The submitted value is the one used; a
    difference is a quality signal for the submitting department, not an error. -#}
select
    cast(v.measure_code as varchar) as measure_code,
    cast(v.region_code as varchar) as region_code,
    cast(v.region_level as varchar) as region_level,
    cast(v.year as varchar) as period,
    cast(v.year as integer) as year,
    cast(v.source_period as varchar) as source_period,
    cast(v.submitted_value as double) as submitted_value,
    cast(v.rolled_up_value as double) as rolled_up_value,
    cast(v.submitted_value - v.rolled_up_value as double) as difference,
    cast(
        case
            when v.rolled_up_value <> 0
                then 100.0 * (v.submitted_value - v.rolled_up_value) / abs(v.rolled_up_value)
        end as double
    ) as relative_difference_pct,
    cast(v.children_level as varchar) as children_level,
    cast(v.children_expected as integer) as children_expected,
    cast(v.children_reporting as integer) as children_reporting
from {{ ref('int_measure_values_reconciled') }} as v
where
    v.submitted_value is not null
    and v.rolled_up_value is not null
