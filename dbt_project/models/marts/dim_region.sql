{#- The province, its 11 cities and 90 county-level units 行政区划, with the population used for
    densities and allocations (the latest year in the seed). -#}
with latest_population as (
    select
        region_code,
        year,
        resident_population,
        elderly_population,
        row_number() over (partition by region_code order by year desc) as recency_rank
    from {{ ref('region_population') }}
)

select
    cast(r.region_code as varchar) as region_code,
    cast(r.name_zh as varchar) as name_zh,
    cast(r.name_en as varchar) as name_en,
    cast(r.name_pinyin as varchar) as name_pinyin,
    cast(r.region_level as varchar) as region_level,
    cast({{ region_level_rank('r.region_level') }} as integer) as region_level_rank,
    cast(r.parent_code as varchar) as parent_code,
    cast(r.city_code as varchar) as city_code,
    cast(c.name_zh as varchar) as city_name_zh,
    cast(c.name_en as varchar) as city_name_en,
    cast(r.division_type as varchar) as division_type,
    cast(r.township_count as integer) as township_count,
    cast(p.year as integer) as population_year,
    cast(p.resident_population as bigint) as resident_population,
    cast(p.elderly_population as bigint) as elderly_population
from {{ ref('regions') }} as r
left join {{ ref('regions') }} as c on r.city_code = c.region_code
left join latest_population as p
    on
        r.region_code = p.region_code
        and p.recency_rank = 1
