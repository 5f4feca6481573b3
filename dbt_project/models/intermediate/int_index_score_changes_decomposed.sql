{#- Why an index moved (docs/methodology.md §7b): each region's year-on-year index change split
    into one contribution per dimension, adding up to the change exactly. With I the index,
    s the dimension scores, w the weights and W the weight scored this year:
      scored both years     w / W x (s_this - s_last)                 (score_change)
      scored this year only w / W x (s_this - I_last)                 (dimension_added)
      scored last year only -w / W x (s_last - I_last)                (dimension_dropped)
    The last two are the coverage terms: a dimension that appears or vanishes moves the index
    by how far its score is from last year's index. Only years where the region has an index
    in both years are decomposed.
    A view: fct_index_score_changes is its only reader, so a table would write its ~370,000 rows
    (national) twice on every build, once here and once in the mart (bench/notes.md, issue #22).
    Its key is tested on the mart (zone, region, period = year, dimension). -#}
{{ config(materialized='view') }}
with indices as (
    select
        zone_code,
        region_code,
        region_level,
        year,
        index_score
    from {{ ref('int_index_scores_aggregated') }}
),

changes as (
    select
        t.zone_code,
        t.region_code,
        t.region_level,
        t.year,
        l.index_score as index_score_last_year,
        t.index_score,
        t.index_score - l.index_score as index_change
    from indices as t
    inner join indices as l
        on
            t.zone_code = l.zone_code
            and t.region_code = l.region_code
            and t.year = l.year + 1
    where t.index_score is not null and l.index_score is not null
),

dimension_pairs as (
    select
        c.zone_code,
        c.region_code,
        c.region_level,
        c.year,
        c.index_score_last_year,
        c.index_score,
        c.index_change,
        t.dimension_code,
        t.dimension_no,
        t.weight,
        l.dimension_score as dimension_score_last_year,
        t.dimension_score,
        sum(case when t.dimension_score is not null then t.weight end)
            over (partition by c.zone_code, c.region_code, c.year) as weight_scored
    from changes as c
    inner join {{ ref('int_dimension_scores_scored') }} as t
        on
            c.zone_code = t.zone_code
            and c.region_code = t.region_code
            and c.year = t.year
    inner join {{ ref('int_dimension_scores_scored') }} as l
        on
            t.dimension_code = l.dimension_code
            and t.region_code = l.region_code
            and t.year = l.year + 1
)

select
    zone_code,
    region_code,
    region_level,
    year,
    dimension_code,
    dimension_no,
    weight,
    index_score_last_year,
    index_score,
    index_change,
    dimension_score_last_year,
    dimension_score,
    case
        when dimension_score is not null and dimension_score_last_year is not null then 'score_change'
        when dimension_score is not null then 'dimension_added'
        when dimension_score_last_year is not null then 'dimension_dropped'
        else 'not_scored'
    end as change_kind,
    case
        when dimension_score is not null and dimension_score_last_year is not null
            then weight / weight_scored * (dimension_score - dimension_score_last_year)
        when dimension_score is not null
            then weight / weight_scored * (dimension_score - index_score_last_year)
        when dimension_score_last_year is not null
            then -weight / weight_scored * (dimension_score_last_year - index_score_last_year)
        else 0.0
    end as contribution
from dimension_pairs
