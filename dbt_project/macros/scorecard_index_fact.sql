{#- The body of a per-index fact table (fct_index_<zone>): one row per region x year with the
    index, its coverage, rank and rank interval, and one 0-100 score column per dimension of the
    zone, named by var index_dimension_columns[zone] (dimension_code -> column). The dimensions are taken from
    that var, not queried, so each mart's columns (its contract) are known at compile time. -#}
{% macro index_fact(zone_code) -%}
{%- set all_columns = var('index_dimension_columns') -%}
{%- if all_columns is mapping -%}
    {%- set columns = all_columns[zone_code] -%}
{%- else -%}
    {#- sqlfluff's var() stub is not a mapping: lint with one placeholder dimension. -#}
    {%- set columns = {'LINT01': 'lint_dimension_score'} -%}
{%- endif -%}
{%- set dimension_codes = columns.keys() | list -%}
with index_scores as (
    select * from {{ ref('int_index_scores_aggregated') }}
    where zone_code = '{{ zone_code }}'
),

rank_intervals as (
    select * from {{ ref('int_index_rank_intervals') }}
    where zone_code = '{{ zone_code }}'
),

dimension_scores as (
    select
        region_code,
        year
        {%- for code in dimension_codes %},
        max(case when dimension_code = '{{ code }}' then dimension_score end) as {{ columns[code] }}
        {%- endfor %}
    from {{ ref('int_dimension_scores_scored') }}
    where zone_code = '{{ zone_code }}'
    group by region_code, year
)

select
    cast(i.zone_code as varchar) as zone_code,
    cast(i.region_code as varchar) as region_code,
    cast(r.name_zh as varchar) as region_name_zh,
    cast(r.name_en as varchar) as region_name_en,
    cast(i.region_level as varchar) as region_level,
    cast(r.city_code as varchar) as city_code,
    cast(i.year as varchar) as period,
    cast(i.year as integer) as year,
    cast(i.index_score as double) as index_score,
    cast(i.coverage_pct as double) as coverage_pct,
    cast(i.rank_in_level as integer) as rank_in_level,
    cast(i.regions_ranked as integer) as regions_ranked,
    cast(ri.rank_median as integer) as rank_median,
    cast(ri.rank_p05 as integer) as rank_p05,
    cast(ri.rank_p95 as integer) as rank_p95,
    cast(i.dimensions_scored as integer) as dimensions_scored,
    cast(i.dimension_count as integer) as dimension_count
    {%- for code in dimension_codes %},
    cast(d.{{ columns[code] }} as double) as {{ columns[code] }}
    {%- endfor %}
from index_scores as i
inner join {{ ref('regions') }} as r on i.region_code = r.region_code
left join dimension_scores as d
    on
        i.region_code = d.region_code
        and i.year = d.year
left join rank_intervals as ri
    on
        i.region_code = ri.region_code
        and i.year = ri.year
{%- endmacro %}
