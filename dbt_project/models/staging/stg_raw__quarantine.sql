with source as (
    select * from {{ source('raw', 'quarantine') }}
)

select
    cast(file_id as bigint) as file_id,
    cast(row_ref as {{ sc_type_string() }}) as row_ref,
    cast(field as {{ sc_type_string() }}) as field,
    cast(reason_code as {{ sc_type_string() }}) as reason_code,
    cast(reason_zh as {{ sc_type_string() }}) as reason_zh,
    cast(reason_en as {{ sc_type_string() }}) as reason_en,
    cast(raw_record as {{ sc_type_string() }}) as raw_record,
    cast(quarantined_at as {{ sc_type_timestamp() }}) as quarantined_at
from source
