{#- Every version of every submitted value, typed, with its period parsed and a flag for the
    version in force: the one from the most recent file (highest file_id). -#}
with source as (
    select * from {{ source('raw', 'submissions') }}
),

typed as (
    select
        cast(file_id as bigint) as file_id,
        cast(row_ref as {{ sc_type_string() }}) as row_ref,
        cast(department_code as {{ sc_type_string() }}) as department_code,
        cast(region_code as {{ sc_type_string() }}) as region_code,
        cast(measure_code as {{ sc_type_string() }}) as measure_code,
        cast(period as {{ sc_type_string() }}) as period,
        {{ period_kind('period') }} as period_kind,
        {{ period_year('period') }} as period_year,
        {{ period_start_date('period') }} as period_start_date,
        {{ period_end_date('period') }} as period_end_date,
        {{ period_grain_rank('period') }} as period_grain_rank,
        cast(value as double) as value,
        cast(numerator as double) as numerator,
        cast(denominator as double) as denominator,
        cast(unit_submitted as {{ sc_type_string() }}) as unit_submitted,
        cast(value_text as {{ sc_type_string() }}) as value_text,
        cast(note as {{ sc_type_string() }}) as note,
        cast(loaded_at as {{ sc_type_timestamp() }}) as loaded_at
    from source
)

select
    {{ sc_hash(sc_concat(["cast(file_id as " ~ sc_type_string() ~ ")", "'|'", "row_ref", "'|'", "measure_code", "'|'", "region_code", "'|'", "period"])) }} as submission_id,
    *,
    row_number() over (
        partition by measure_code, region_code, period
        order by file_id desc, loaded_at desc
    ) = 1 as is_latest
from typed
