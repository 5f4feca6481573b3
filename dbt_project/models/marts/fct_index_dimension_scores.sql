{#- The dimension scores behind the five indices, long form (one row per dimension x region x
    year) 指数分项得分: the value, the value on the dimension's fixed scale, its goalposts and the 0-100 score, for
    drilling down from an index to what drives it (docs/methodology.md §6). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_dimension_scores_scored'],
    on_schema_change='fail',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year, like the model it publishes (macros/incremental/measure_versions.sql);
    column changes need a full refresh (on_schema_change='fail', as for fct_indicator_progress). -#}
select
    cast(s.zone_code as varchar) as zone_code,
    cast(s.dimension_code as varchar) as dimension_code,
    cast(s.dimension_no as integer) as dimension_no,
    cast(d.name_zh as varchar) as dimension_name_zh,
    cast(d.name_en as varchar) as dimension_name_en,
    cast(s.weight as double) as weight,
    cast(s.measure_code as varchar) as measure_code,
    cast(s.scoring_method as varchar) as scoring_method,
    cast(s.scoring_method_applied as varchar) as scoring_method_applied,
    cast(s.scored_quantity as varchar) as scored_quantity,
    cast(d.scale_unit as varchar) as scale_unit,
    cast(s.region_code as varchar) as region_code,
    cast(s.region_level as varchar) as region_level,
    cast(s.year as varchar) as period,
    cast(s.year as integer) as year,
    cast(s.actual_value as double) as actual_value,
    cast(s.target_value as double) as target_value,
    cast(s.attainment_pct as double) as attainment_pct,
    cast(s.scored_value as double) as scored_value,
    cast(s.goalpost_worst as double) as goalpost_worst,
    cast(s.goalpost_best as double) as goalpost_best,
    cast(s.dimension_score as double) as dimension_score
from {{ ref('int_dimension_scores_scored') }} as s
inner join {{ ref('index_dimensions') }} as d on s.dimension_code = d.dimension_code
where {{ sc_rebuild_filter(changed_measures, 's.year', 's.measure_code') }}
{{ sc_stored_in_measure_order() }}
