{#- Every region paired with itself and each region above it (county -> city -> province), so
    roll-ups can group the lower level by any higher one in a single join. -#}
with regions as (
    select
        region_code,
        region_level,
        parent_code
    from {{ ref('regions') }}
),

pairs as (
    select
        r.region_code,
        r.region_level,
        r.region_code as ancestor_code,
        r.region_level as ancestor_level,
        0 as distance
    from regions as r

    union all

    select
        r.region_code,
        r.region_level,
        p.region_code as ancestor_code,
        p.region_level as ancestor_level,
        1 as distance
    from regions as r
    inner join regions as p on r.parent_code = p.region_code

    union all

    select
        r.region_code,
        r.region_level,
        g.region_code as ancestor_code,
        g.region_level as ancestor_level,
        2 as distance
    from regions as r
    inner join regions as p on r.parent_code = p.region_code
    inner join regions as g on p.parent_code = g.region_code
)

select
    region_code,
    region_level,
    {{ region_level_rank('region_level') }} as region_level_rank,
    ancestor_code,
    ancestor_level,
    {{ region_level_rank('ancestor_level') }} as ancestor_level_rank,
    distance
from pairs
