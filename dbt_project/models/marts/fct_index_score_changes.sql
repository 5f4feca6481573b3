{#- Why a score moved 指数变动分解: each region's year-on-year index change split into one
    contribution per dimension (weight x change of the dimension score, or a coverage term when
    a dimension appears or vanishes); the contributions of a region, zone and year add up to
    index_change (docs/methodology.md §7b). mover_rank orders them by absolute size
    (1 = moved the index most).
    Incremental per zone and year (config measure_zone_column): after a file only the zones whose
    dimensions score its measures are rebuilt, from the earliest year that changed
    (macros/incremental/measure_versions.sql); national, one department's file: one zone in five.
    Stored in zone and year order, so the rows a build replaces lie together. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_dimension_scores_scored'],
    measure_zone_column='zone_code',
    on_schema_change='fail',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
select
    cast(c.zone_code as varchar) as zone_code,
    cast(c.region_code as varchar) as region_code,
    cast(r.name_zh as varchar) as region_name_zh,
    cast(r.name_en as varchar) as region_name_en,
    cast(c.region_level as varchar) as region_level,
    cast(c.year as varchar) as period,
    cast(c.year as integer) as year,
    cast(c.dimension_code as varchar) as dimension_code,
    cast(d.name_zh as varchar) as dimension_name_zh,
    cast(d.name_en as varchar) as dimension_name_en,
    cast(c.weight as double) as weight,
    cast(c.change_kind as varchar) as change_kind,
    cast(c.dimension_score_last_year as double) as dimension_score_last_year,
    cast(c.dimension_score as double) as dimension_score,
    cast(c.contribution as double) as contribution,
    cast(c.index_score_last_year as double) as index_score_last_year,
    cast(c.index_score as double) as index_score,
    cast(c.index_change as double) as index_change,
    cast(row_number() over (
        partition by c.zone_code, c.region_code, c.year
        order by abs(c.contribution) desc, c.dimension_no
    ) as integer) as mover_rank
from (
    select * from {{ ref('int_index_score_changes_decomposed') }}
    where {{ sc_zone_rebuild_filter(sc_measures_to_rebuild()) }}
) as c
inner join {{ ref('regions') }} as r on c.region_code = r.region_code
inner join {{ ref('index_dimensions') }} as d on c.dimension_code = d.dimension_code
order by c.zone_code, c.year
