with source as (
    select * from {{ source('raw', 'file_ledger') }}
)

select
    cast(file_id as bigint) as file_id,
    cast(file_name as {{ sc_type_string() }}) as file_name,
    cast(department_code as {{ sc_type_string() }}) as department_code,
    cast(sha256 as {{ sc_type_string() }}) as sha256,
    cast(size_bytes as bigint) as size_bytes,
    cast(file_format as {{ sc_type_string() }}) as file_format,
    cast(layout as {{ sc_type_string() }}) as layout,
    cast(received_at as {{ sc_type_timestamp() }}) as received_at,
    cast(status as {{ sc_type_string() }}) as file_status,
    cast(rows_input as integer) as rows_input,
    cast(rows_loaded as integer) as rows_loaded,
    cast(rows_rejected as integer) as rows_rejected,
    cast(periods as {{ sc_type_string() }}) as periods,
    cast(message as {{ sc_type_string() }}) as message,
    cast(stored_path as {{ sc_type_string() }}) as stored_path
from source
