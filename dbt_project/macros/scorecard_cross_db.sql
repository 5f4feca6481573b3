{#- Thin wrappers over dbt's cross-database macros (dbt.concat, dbt.hash, dbt.dateadd, ...).
    Under dbt they call the adapter-dispatched macro, so the models stay portable. sqlfluff's
    jinja templater (.sqlfluff) has no `dbt` namespace, so there the wrappers render an
    equivalent plain-SQL form for the linter to parse; that form is never run.

    Types are written one way everywhere: plain DuckDB names in the SQL (`cast(x as varchar)`,
    `double`, `integer`, `bigint`, `boolean`, `date`, `timestamp`), no type wrappers. Why: the
    enforced contracts (`data_type:` in models/*/<model>.yml) and warehouse/bi_contract.yml name
    these same types, and they must match what the SQL produces; a wrapper in the SQL would not
    make a model portable while its contract names DuckDB types, and would hide from the reader
    which type a published column has. A port to another engine changes casts and contracts
    together (docs/distributed.md, "Portable models"). Functions whose syntax differs between
    engines keep their wrappers below. -#}

{% macro sc_concat(fields) -%}
    {%- if dbt is defined -%}{{ dbt.concat(fields) }}{%- else -%}concat({{ fields | join(', ') }}){%- endif -%}
{%- endmacro %}

{% macro sc_hash(field) -%}
    {%- if dbt is defined -%}{{ dbt.hash(field) }}{%- else -%}md5(cast({{ field }} as varchar)){%- endif -%}
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
