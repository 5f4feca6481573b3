{#- Why a score moved 指数变动分解: each region's year-on-year index change split into one
    contribution per dimension (weight x change of the dimension score, or a coverage term when
    a dimension appears or vanishes); the contributions of a region, zone and year add up to
    index_change (docs/methodology.md §7b). mover_rank orders them by absolute size
    (1 = moved the index most). -#}
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
from {{ ref('int_index_score_changes_decomposed') }} as c
inner join {{ ref('regions') }} as r on c.region_code = r.region_code
inner join {{ ref('index_dimensions') }} as d on c.dimension_code = d.dimension_code
