{#- The body of a per-index fact table (fct_index_<zone>): one row per region x year with the
    index, its coverage, rank and rank interval, and one 0-100 score column per dimension of the
    zone, named by var index_dimension_columns[zone] (dimension_code -> column). The dimensions are taken from
    that var, not queried, so each mart's columns (its contract) are known at compile time.
    The zone is the one whose index_model in seeds/zones.csv is this model (index_fact_zone). -#}
{% macro index_fact() -%}
{#- A table, left as it is by a build after a file whose measures feed none of the zone's
    dimensions (macros/incremental/zone_tables.sql); the versions of its inputs recorded as the
    incremental models record theirs. -#}
{{ config(
    materialized='zone_index_table',
    measure_versions_from=['int_dimension_scores_scored'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set zone_code = index_fact_zone() -%}
{%- set all_columns = var('index_dimension_columns') -%}
{%- if all_columns is mapping and zone_code is not none -%}
    {%- set columns = all_columns[zone_code] -%}
{%- else -%}
    {#- Parsing (no zone yet: the seed is read when the model runs) and sqlfluff's var() stub
        (not a mapping): one placeholder dimension. -#}
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


{#- The zone whose index table the current model is: the one row of seed zones whose
    index_model is this model's name (seeds/zones.csv is the one place that maps zones to their
    index tables; dim_zone.index_fact_table and the Python code read the same column). none while
    dbt parses the project (the seed is read when the model is compiled to run). -#}
{% macro index_fact_zone() -%}
    {%- set zones = ref('zones') -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {#- The seed read once per invocation (each index table's SQL and its materialization ask,
        macros/incremental/zone_tables.sql), kept in dbt's graph as sc_changed_measures' answers are. -#}
    {%- set memo = graph.setdefault('index_fact_zones', {}) -%}
    {%- if invocation_id not in memo -%}
        {%- set zones_by_model = {} -%}
        {%- for row in run_query("select index_model, zone_code from " ~ zones).rows -%}
            {%- do zones_by_model.setdefault(row[0], []).append(row[1]) -%}
        {%- endfor -%}
        {%- do memo.update({invocation_id: zones_by_model}) -%}
    {%- endif -%}
    {%- set found = memo[invocation_id].get(this.identifier, []) -%}
    {%- if found | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "seeds/zones.csv has " ~ (found | length) ~ " zones whose index_model is '"
            ~ this.identifier ~ "' (expected exactly one)"
        ) }}
    {%- endif -%}
    {{ return(found[0]) }}
{%- endmacro %}
