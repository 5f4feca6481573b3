{#- One row per file x reporting period it covers, from the ledger's comma-separated `periods`
    (split with dbt.split_part over positions 1-100, which bounds the periods one file may list:
    five years of months is 60). -#}
with files as (
    select
        file_id,
        department_code,
        file_status,
        received_at,
        periods
    from {{ ref('stg_raw__file_ledger') }}
    where periods is not null
),

digits as (
    {%- for digit in range(10) %}
        select {{ digit }} as digit{% if not loop.last %}
            union all{% endif %}
    {%- endfor %}
),

positions as (
    select tens.digit * 10 + units.digit + 1 as position
    from digits as tens
    cross join digits as units
),

split as (
    select
        f.file_id,
        f.department_code,
        f.file_status,
        f.received_at,
        trim({{ sc_split_part('f.periods', "','", 'p.position') }}) as period
    from files as f
    cross join positions as p
)

select
    file_id,
    department_code,
    file_status,
    received_at,
    period,
    {{ period_kind('period') }} as period_kind,
    {{ period_end_date('period') }} as period_end_date
from split
where period <> ''
