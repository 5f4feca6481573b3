{#- Each expected department x period checked against the ledger (docs/methodology.md §7):
    a file covers a period when it lists a period ending on the same day (so '2025-12' or
    '2025-Q4' covers '2025-Q4', and '2025-Q4' covers '2025'), from the same department, with a
    received status (var received_file_statuses).
      on_time   first covering file received on or before the deadline
      late      first covering file received after the deadline
      missing   no covering file and the deadline has passed (deadline < as_of)
      pending   no covering file yet, deadline not passed -#}
{%- set received_statuses = var('received_file_statuses') -%}
with covering_files as (
    select
        e.department_code,
        e.period,
        min(f.received_at) as first_received_at,
        count(distinct f.file_id) as covering_file_count
    from {{ ref('int_submission_deadlines_expected') }} as e
    inner join {{ ref('int_ledger_periods_unnested') }} as f
        on
            e.department_code = f.department_code
            and e.period_end_date = f.period_end_date
    where f.file_status in ('{{ received_statuses | join("', '") }}')
    group by e.department_code, e.period
)

select
    e.department_code,
    e.reporting_frequency,
    e.period,
    e.year,
    e.period_end_date,
    e.deadline_date,
    e.is_monitored,
    c.first_received_at,
    coalesce(c.covering_file_count, 0) as covering_file_count,
    case
        when c.first_received_at is not null
            then {{ sc_datediff('e.deadline_date', 'cast(c.first_received_at as date)', 'day') }}
    end as days_late,
    case
        when c.first_received_at is not null and cast(c.first_received_at as date) > e.deadline_date then 'late'
        when c.first_received_at is not null then 'on_time'
        when e.deadline_date < {{ scorecard_as_of() }} then 'missing'
        else 'pending'
    end as submission_status
from {{ ref('int_submission_deadlines_expected') }} as e
left join covering_files as c
    on
        e.department_code = c.department_code
        and e.period = c.period
