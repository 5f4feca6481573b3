{#- Every reporting period each department owes within the programme window, with its deadline
    (period end + departments.deadline_days_after_period_end; reporting_frequency annual or
    quarterly). is_monitored: the deadline is on or after var monitor_from (SCORECARD_MONITOR_FROM);
    earlier periods are history loaded as a backfill and are never "late". -#}
with years as (
    {{ programme_years() }}
),

quarters as (
    select 1 as quarter
    union all
    select 2 as quarter
    union all
    select 3 as quarter
    union all
    select 4 as quarter
),

departments as (
    select
        department_code,
        reporting_frequency,
        cast(deadline_days_after_period_end as integer) as deadline_days
    from {{ ref('departments') }}
),

annual as (
    select
        d.department_code,
        d.reporting_frequency,
        d.deadline_days,
        cast(y.year as varchar) as period
    from departments as d
    cross join years as y
    where d.reporting_frequency = 'annual'
),

quarterly as (
    select
        d.department_code,
        d.reporting_frequency,
        d.deadline_days,
        {{ sc_concat(["cast(y.year as varchar)", "'-Q'", "cast(q.quarter as varchar)"]) }} as period
    from departments as d
    cross join years as y
    cross join quarters as q
    where d.reporting_frequency = 'quarterly'
),

expected as (
    select * from annual
    union all
    select * from quarterly
),

dated as (
    select
        department_code,
        reporting_frequency,
        period,
        {{ period_year('period') }} as year,
        {{ period_end_date('period') }} as period_end_date,
        deadline_days
    from expected
)

select
    *,
    cast({{ sc_dateadd('day', 'deadline_days', 'period_end_date') }} as date) as deadline_date,
    cast({{ sc_dateadd('day', 'deadline_days', 'period_end_date') }} as date) >= {{ scorecard_monitor_from() }}
        as is_monitored
from dated
