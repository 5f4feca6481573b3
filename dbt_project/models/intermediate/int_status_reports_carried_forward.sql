{#- The status in force at the end of each programme year, per item (a work or policy item, or
    the milestone measure EC02) and region that has reported on it: the latest report for a
    period ending on or before 31 December. A status stays in force until a new one is reported.
    Shared by fct_milestone_status and fct_work_item_status. -#}
with years as (
    {{ programme_years() }}
),

reports as (
    select * from {{ ref('stg_raw__status_reports') }}
    where is_latest
),

ranked as (
    select
        rep.item_code,
        rep.region_code,
        y.year,
        rep.status_code,
        rep.period as status_period,
        rep.status_date,
        rep.period_year = y.year as is_reported_in_year,
        row_number() over (
            partition by rep.item_code, rep.region_code, y.year
            order by rep.period_end_date desc, rep.period_grain_rank asc, rep.file_id desc
        ) as recency_rank
    from reports as rep
    inner join years as y on rep.period_year <= y.year
)

select
    item_code,
    region_code,
    year,
    status_code,
    status_period,
    status_date,
    is_reported_in_year
from ranked
where recency_rank = 1
