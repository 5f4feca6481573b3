{#- Thin wrappers over dbt's cross-database macros (dbt.concat, dbt.hash, dbt.dateadd, ...).
    Under dbt they call the adapter-dispatched macro, so the models stay portable. sqlfluff's
    jinja templater (.sqlfluff) has no `dbt` namespace, so there the wrappers render an
    equivalent plain-SQL form for the linter to parse; that form is never run. -#}

{% macro sc_concat(fields) -%}
    {%- if dbt is defined -%}{{ dbt.concat(fields) }}{%- else -%}concat({{ fields | join(', ') }}){%- endif -%}
{%- endmacro %}

{% macro sc_hash(field) -%}
    {%- if dbt is defined -%}{{ dbt.hash(field) }}{%- else -%}md5(cast({{ field }} as varchar)){%- endif -%}
{%- endmacro %}

{% macro sc_type_string() -%}
    {%- if dbt is defined -%}{{ dbt.type_string() }}{%- else -%}varchar{%- endif -%}
{%- endmacro %}

{% macro sc_type_timestamp() -%}
    {%- if dbt is defined -%}{{ dbt.type_timestamp() }}{%- else -%}timestamp{%- endif -%}
{%- endmacro %}

{% macro sc_dateadd(datepart, interval, from_date_or_timestamp) -%}
    {%- if dbt is defined -%}
        {{ dbt.dateadd(datepart, interval, from_date_or_timestamp) }}
    {%- else -%}
        date_add({{ from_date_or_timestamp }}, {{ interval }})
    {%- endif -%}
{%- endmacro %}

{% macro sc_datediff(first_date, second_date, datepart) -%}
    {%- if dbt is defined -%}
        {{ dbt.datediff(first_date, second_date, datepart) }}
    {%- else -%}
        date_diff('{{ datepart }}', {{ first_date }}, {{ second_date }})
    {%- endif -%}
{%- endmacro %}

{% macro sc_split_part(string_text, delimiter_text, part_number) -%}
    {%- if dbt is defined -%}
        {{ dbt.split_part(string_text, delimiter_text, part_number) }}
    {%- else -%}
        split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
    {%- endif -%}
{%- endmacro %}

{% macro sc_current_date() -%}
    {%- if dbt is defined -%}cast({{ dbt.current_timestamp() }} as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}
