with source as (
    select * from {{ source('raw', 'file_ledger') }}
)

select
    cast(file_id as bigint) as file_id,
    cast(file_name as varchar) as file_name,
    cast(department_code as varchar) as department_code,
    cast(sha256 as varchar) as sha256,
    cast(size_bytes as bigint) as size_bytes,
    cast(file_format as varchar) as file_format,
    cast(layout as varchar) as layout,
    cast(received_at as timestamp) as received_at,
    cast(status as varchar) as file_status,
    cast(rows_input as integer) as rows_input,
    cast(rows_loaded as integer) as rows_loaded,
    cast(rows_rejected as integer) as rows_rejected,
    cast(periods as varchar) as periods,
    cast(message as varchar) as message,
    cast(stored_path as varchar) as stored_path
from source
