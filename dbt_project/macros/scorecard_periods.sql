{#- Reporting periods are text: '2023' (year), '2023-Q2' (quarter) or '2023-06' (month); a value
    is as of the period's end. These macros derive the kind, the dates and the programme years
    with dbt's cross-database macros so the models stay portable. -#}

{% macro period_kind(period) -%}
    case
        when length({{ period }}) = 4 then 'year'
        when length({{ period }}) = 7 and substring({{ period }}, 6, 1) = 'Q' then 'quarter'
        when length({{ period }}) = 7 then 'month'
    end
{%- endmacro %}

{#- Months covered by the period: 12, 3 or 1. -#}
{% macro period_months(period) -%}
    case
        when length({{ period }}) = 4 then 12
        when length({{ period }}) = 7 and substring({{ period }}, 6, 1) = 'Q' then 3
        when length({{ period }}) = 7 then 1
    end
{%- endmacro %}

{% macro period_year(period) -%}
    cast(substring({{ period }}, 1, 4) as integer)
{%- endmacro %}

{#- Finer periods sort first when two periods end on the same day, so an annual value is
    preferred over a Q4 or December value as the year's value: 1 year, 2 quarter, 3 month. -#}
{% macro period_grain_rank(period) -%}
    case
        when length({{ period }}) = 4 then 1
        when length({{ period }}) = 7 and substring({{ period }}, 6, 1) = 'Q' then 2
        else 3
    end
{%- endmacro %}

{% macro period_start_date(period) -%}
    cast(
        {{ sc_concat([
            "substring(" ~ period ~ ", 1, 4)",
            "'-'",
            "case when length(" ~ period ~ ") = 4 then '01'"
            ~ " when substring(" ~ period ~ ", 6, 1) = 'Q' then case substring(" ~ period ~ ", 7, 1)"
            ~ " when '1' then '01' when '2' then '04' when '3' then '07' else '10' end"
            ~ " else substring(" ~ period ~ ", 6, 2) end",
            "'-01'"
        ]) }}
        as date
    )
{%- endmacro %}

{% macro period_end_date(period) -%}
    cast(
        {{ sc_dateadd(
            'day', -1,
            sc_dateadd('month', period_months(period), period_start_date(period))
        ) }}
        as date
    )
{%- endmacro %}

{#- The pipeline's "today" as a SQL date: var as_of (SCORECARD_AS_OF) or the current date. -#}
{% macro scorecard_as_of() -%}
    {%- set as_of = var('as_of', '') | string | trim -%}
    {%- if as_of -%}
        cast('{{ as_of }}' as date)
    {%- else -%}
        {{ sc_current_date() }}
    {%- endif -%}
{%- endmacro %}

{% macro scorecard_monitor_from() -%}
    cast('{{ var("monitor_from") | string | trim }}' as date)
{%- endmacro %}

{#- True when the calendar year `year` is over: as_of is after its 31 December. -#}
{% macro year_is_over(year) -%}
    ({{ scorecard_as_of() }} > cast({{ sc_concat(["cast(" ~ year ~ " as varchar)", "'-12-31'"]) }} as date))
{%- endmacro %}

{#- A relation of the programme years (first_year .. last_year), one row per year. -#}
{% macro programme_years() -%}
    {%- for year in range(var('first_year') | int, (var('last_year') | int) + 1) %}
    select {{ year }} as year{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- The calendar year of as_of: the year in progress. -#}
{% macro scorecard_as_of_year() -%}
    extract(year from {{ scorecard_as_of() }})
{%- endmacro %}
