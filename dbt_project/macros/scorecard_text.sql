{#- A number for a message: rounded to 2 decimals, '-' when unknown. -#}
{% macro message_number(expression) -%}
    coalesce(cast(round(cast({{ expression }} as decimal(20, 4)), 2) as varchar), '-')
{%- endmacro %}

{#- Null-safe concatenation for messages: a missing piece becomes '' instead of nulling all. -#}
{% macro message_concat(pieces) -%}
    {%- set safe = [] -%}
    {%- for piece in pieces -%}
        {%- do safe.append("coalesce(cast(" ~ piece ~ " as varchar), '')") -%}
    {%- endfor -%}
    {{ sc_concat(safe) }}
{%- endmacro %}
