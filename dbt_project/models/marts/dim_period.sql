{#- Every reporting period of the programme window 报告期: years ('2023'), quarters ('2023-Q2')
    and months ('2023-06'), with their dates and whether they are over as of the pipeline's
    today (var as_of). -#}
with years as (
    {{ programme_years() }}
),

numbers as (
    {%- for n in range(1, 13) %}
        select {{ n }} as n{% if not loop.last %}
            union all{% endif %}
    {%- endfor %}
),

periods as (
    select
        cast(y.year as varchar) as period,
        'year' as period_kind,
        y.year,
        cast(null as integer) as quarter,
        cast(null as integer) as month
    from years as y
    union all
    select
        {{ sc_concat(["cast(y.year as varchar)", "'-Q'", "cast(q.n as varchar)"]) }} as period,
        'quarter' as period_kind,
        y.year,
        q.n as quarter,
        cast(null as integer) as month
    from years as y
    cross join numbers as q
    where q.n <= 4
    union all
    select
        {{ sc_concat([
            "cast(y.year as varchar)", "'-'",
            "case when m.n < 10 then '0' else '' end", "cast(m.n as varchar)"
        ]) }} as period,
        'month' as period_kind,
        y.year,
        cast(floor((m.n - 1) / 3.0) as integer) + 1 as quarter,
        m.n as month
    from years as y
    cross join numbers as m
)

select
    cast(period as varchar) as period,
    cast(period_kind as varchar) as period_kind,
    cast(year as integer) as year,
    cast(quarter as integer) as quarter,
    cast(month as integer) as month,
    cast({{ period_start_date('period') }} as date) as start_date,
    cast({{ period_end_date('period') }} as date) as end_date,
    cast({{ period_end_date('period') }} < {{ scorecard_as_of() }} as boolean) as is_over
from periods
