{#- Status per year of every work-system (工作体系) and policy-system (政策体系) item, for the
    province and any region that reports on it. The status as of year end is the latest report
    for a period ending on or before 31 December (carried forward until a new one). year_status:
    complete (a completing status, e.g. done / issued), overdue (not complete, the due year has
    been reached and is over), in_progress, no_data (nothing reported yet). -#}
with items as (
    select
        item_code,
        'work' as item_kind,
        zone_code,
        item_no,
        text_zh,
        gloss_en,
        owner_department,
        due_year
    from {{ ref('work_items') }}
    union all
    select
        item_code,
        'policy' as item_kind,
        zone_code,
        item_no,
        text_zh,
        gloss_en,
        owner_department,
        due_year
    from {{ ref('policy_items') }}
),

years as (
    {{ programme_years() }}
),

reports as (
    select * from {{ ref('stg_raw__status_reports') }}
    where is_latest
),

item_regions as (
    -- The province always; other regions when they report on the item.
    select
        i.item_code,
        r.region_code
    from items as i
    cross join {{ ref('regions') }} as r
    where r.region_level = 'province'
    union
    select distinct
        rep.item_code,
        rep.region_code
    from reports as rep
    inner join items as i on rep.item_code = i.item_code
),

spine as (
    select
        i.*,
        ir.region_code,
        y.year
    from items as i
    inner join item_regions as ir on i.item_code = ir.item_code
    cross join years as y
),

as_of_year_end as (
    select * from {{ ref('int_status_reports_carried_forward') }}
),

assessed as (
    select
        s.*,
        a.status_code,
        v.status_rank,
        v.name_zh as status_name_zh,
        v.name_en as status_name_en,
        coalesce(v.is_complete, false) as is_complete,
        a.status_period,
        a.status_date,
        coalesce(a.is_reported_in_year, false) as is_reported_in_year,
        {{ year_is_over('s.year') }} as is_year_over
    from spine as s
    left join as_of_year_end as a
        on
            s.item_code = a.item_code
            and s.region_code = a.region_code
            and s.year = a.year
    left join {{ ref('status_vocabulary') }} as v
        on
            s.item_kind = v.item_kind
            and a.status_code = v.status_code
)

select
    cast(item_code as varchar) as item_code,
    cast(item_kind as varchar) as item_kind,
    cast(zone_code as varchar) as zone_code,
    cast(item_no as integer) as item_no,
    cast(text_zh as varchar) as text_zh,
    cast(gloss_en as varchar) as gloss_en,
    cast(owner_department as varchar) as owner_department,
    cast(due_year as integer) as due_year,
    cast(region_code as varchar) as region_code,
    cast(year as varchar) as period,
    cast(year as integer) as year,
    cast(status_code as varchar) as status_code,
    cast(status_rank as integer) as status_rank,
    cast(status_name_zh as varchar) as status_name_zh,
    cast(status_name_en as varchar) as status_name_en,
    cast(is_complete as boolean) as is_complete,
    cast(status_period as varchar) as status_period,
    cast(status_date as date) as status_date,
    cast(is_reported_in_year as boolean) as is_reported_in_year,
    cast(
        case
            when is_complete then 'complete'
            when status_code is null then 'no_data'
            when year >= coalesce(due_year, {{ var('last_year') }}) and is_year_over then 'overdue'
            else 'in_progress'
        end as varchar
    ) as year_status,
    cast(is_year_over as boolean) as is_year_over
from assessed
