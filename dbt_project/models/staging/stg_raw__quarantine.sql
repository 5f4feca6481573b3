with source as (
    select * from {{ source('raw', 'quarantine') }}
)

select
    cast(file_id as bigint) as file_id,
    cast(row_ref as varchar) as row_ref,
    cast(field as varchar) as field,
    cast(reason_code as varchar) as reason_code,
    cast(reason_zh as varchar) as reason_zh,
    cast(reason_en as varchar) as reason_en,
    cast(raw_record as varchar) as raw_record,
    cast(quarantined_at as timestamp) as quarantined_at
from source
