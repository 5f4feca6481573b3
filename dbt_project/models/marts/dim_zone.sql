{#- The five benchmark zones 标杆区 and their composite indices. -#}
select
    cast(z.zone_code as varchar) as zone_code,
    cast(z.zone_no as integer) as zone_no,
    cast(z.name_zh as varchar) as name_zh,
    cast(z.name_en as varchar) as name_en,
    cast(z.zone_title_zh as varchar) as zone_title_zh,
    cast(z.index_name_zh as varchar) as index_name_zh,
    cast(z.index_name_en as varchar) as index_name_en,
    cast(z.index_model as varchar) as index_fact_table,
    cast(count(d.dimension_code) as integer) as dimension_count
from {{ ref('zones') }} as z
left join {{ ref('index_dimensions') }} as d on z.zone_code = d.zone_code
group by
    z.zone_code, z.zone_no, z.name_zh, z.name_en, z.zone_title_zh, z.index_name_zh, z.index_name_en,
    z.index_model
