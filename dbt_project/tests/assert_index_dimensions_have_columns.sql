{#- Every dimension of seeds/index_dimensions.csv must have a score column in its zone's index
    fact (var index_dimension_columns), and every mapped column a dimension: otherwise a seed
    change would silently drop a dimension from the published index tables. -#}
{%- set mapping = var('index_dimension_columns') -%}
{%- if mapping is not mapping -%}
    {#- sqlfluff's var() stub is not a mapping: lint with one placeholder. -#}
    {%- set mapping = {'LINT': {'LINT01': 'lint_dimension_score'}} -%}
{%- endif -%}
with mapped as (
    {%- for zone, columns in mapping.items() %}
        {%- set zone_loop = loop %}
        {%- for code in columns %}
            select '{{ zone }}' as zone_code, '{{ code }}' as dimension_code
            {%- if not (zone_loop.last and loop.last) %} union all{% endif %}
        {%- endfor %}
    {%- endfor %}
),

seeded as (
    select
        zone_code,
        dimension_code
    from {{ ref('index_dimensions') }}
)

select
    s.zone_code,
    s.dimension_code,
    'in the seed, no column in var index_dimension_columns' as problem
from seeded as s
where
    not exists (
        select 1 from mapped as m
        where m.zone_code = s.zone_code and m.dimension_code = s.dimension_code
    )

union all

select
    m.zone_code,
    m.dimension_code,
    'mapped to a column, not in the seed' as problem
from mapped as m
where not exists (
    select 1 from seeded as s
    where s.zone_code = m.zone_code and s.dimension_code = m.dimension_code
)
