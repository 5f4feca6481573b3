{#- The 29 indicators of the indicator system 指标体系. -#}
select
    cast(i.indicator_code as varchar) as indicator_code,
    cast(i.zone_code as varchar) as zone_code,
    cast(i.indicator_no as integer) as indicator_no,
    cast(i.name_zh as varchar) as name_zh,
    cast(i.short_name_zh as varchar) as short_name_zh,
    cast(i.name_en as varchar) as name_en,
    cast(i.unit as varchar) as unit,
    cast(i.unit_zh as varchar) as unit_zh,
    cast(i.measure_kind as varchar) as measure_kind,
    cast(i.direction as varchar) as direction,
    cast(i.department_code as varchar) as department_code,
    cast(z.name_zh as varchar) as zone_name_zh,
    cast(z.name_en as varchar) as zone_name_en
from {{ ref('indicators') }} as i
inner join {{ ref('zones') }} as z on i.zone_code = z.zone_code
