{#- Resident and elderly (60+) population for every region and programme year. The seed holds
    census / estimate years only, so each year takes the nearest year available: the same year,
    else the latest earlier year, else the earliest later year. -#}
with years as (
    {{ programme_years() }}
),

population as (
    select
        region_code,
        year,
        cast(resident_population as double) as resident_population,
        cast(elderly_population as double) as elderly_population
    from {{ ref('region_population') }}
),

candidates as (
    select
        r.region_code,
        y.year,
        p.year as population_year,
        p.resident_population,
        p.elderly_population,
        row_number() over (
            partition by r.region_code, y.year
            order by
                case when p.year <= y.year then 0 else 1 end,
                abs(y.year - p.year)
        ) as nearest_rank
    from {{ ref('regions') }} as r
    cross join years as y
    inner join population as p on r.region_code = p.region_code
)

select
    region_code,
    year,
    population_year,
    resident_population,
    elderly_population
from candidates
where nearest_rank = 1
