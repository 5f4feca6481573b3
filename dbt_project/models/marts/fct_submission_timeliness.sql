{#- Every reporting period each department owes, with its deadline and whether the data came in
    on time 报送及时性 (docs/methodology.md §7). -#}
select
    cast(c.department_code as varchar) as department_code,
    cast(d.name_zh as varchar) as department_name_zh,
    cast(d.name_en as varchar) as department_name_en,
    cast(c.reporting_frequency as varchar) as reporting_frequency,
    cast(c.period as varchar) as period,
    cast(c.year as integer) as year,
    cast(c.period_end_date as date) as period_end_date,
    cast(c.deadline_date as date) as deadline_date,
    cast(c.is_monitored as boolean) as is_monitored,
    cast(c.first_received_at as timestamp) as first_received_at,
    cast(c.covering_file_count as integer) as covering_file_count,
    cast(c.days_late as integer) as days_late,
    cast(c.submission_status as varchar) as submission_status
from {{ ref('int_submission_deadlines_checked') }} as c
inner join {{ ref('departments') }} as d on c.department_code = d.department_code
