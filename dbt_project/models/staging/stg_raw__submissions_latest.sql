{#- The value in force for each measure x region x period: the latest version (highest file_id). -#}
select
    submission_id,
    file_id,
    row_ref,
    department_code,
    region_code,
    measure_code,
    period,
    period_kind,
    period_year,
    period_start_date,
    period_end_date,
    period_grain_rank,
    value,
    numerator,
    denominator,
    unit_submitted,
    value_text,
    note,
    loaded_at
from {{ ref('stg_raw__submissions') }}
where is_latest
