{#- Every reported status of a work item, policy item or milestone (EC02), typed, with its period
    parsed and a flag for the version in force (most recent file). -#}
with source as (
    select * from {{ source('raw', 'status_reports') }}
),

typed as (
    select
        cast(file_id as bigint) as file_id,
        cast(row_ref as varchar) as row_ref,
        cast(department_code as varchar) as department_code,
        cast(item_code as varchar) as item_code,
        cast(region_code as varchar) as region_code,
        cast(period as varchar) as period,
        {{ period_kind('period') }} as period_kind,
        {{ period_year('period') }} as period_year,
        {{ period_end_date('period') }} as period_end_date,
        {{ period_grain_rank('period') }} as period_grain_rank,
        cast(status as varchar) as status_code,
        cast(status_date as date) as status_date,
        cast(evidence as varchar) as evidence,
        cast(note as varchar) as note,
        cast(loaded_at as timestamp) as loaded_at
    from source
)

select
    *,
    row_number() over (
        partition by item_code, region_code, period
        order by file_id desc, loaded_at desc
    ) = 1 as is_latest
from typed
