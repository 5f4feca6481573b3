{#- Every measure 度量 (an indicator's numbers and the evaluation-only measures), with how it is
    rolled up, targeted and scored. -#}
select
    cast(measure_code as varchar) as measure_code,
    cast(indicator_code as varchar) as indicator_code,
    cast(zone_code as varchar) as zone_code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(unit as varchar) as unit,
    cast(unit_zh as varchar) as unit_zh,
    cast(measure_kind as varchar) as measure_kind,
    cast(direction as varchar) as direction,
    cast(rollup_rule as varchar) as rollup_rule,
    cast(value_scale as double) as value_scale,
    cast(population_base as varchar) as population_base,
    cast(condition_threshold as double) as condition_threshold,
    cast(condition_level as varchar) as condition_level,
    cast(region_levels as varchar) as region_levels,
    cast(base_level as varchar) as base_level,
    cast(is_cumulative as boolean) as is_cumulative,
    cast(has_annual_targets as boolean) as has_annual_targets,
    cast(department_code as varchar) as department_code,
    cast(submitted_via as varchar) as submitted_via,
    cast(indicator_code is null as boolean) as is_evaluation_only,
    cast(final_target_year as integer) as final_target_year,
    cast(final_target_value as double) as final_target_value
from {{ ref('int_measures_classified') }}
