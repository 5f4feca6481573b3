{#- The value in force for each measure x region x period: the latest version (highest file_id).
    A table, rebuilt incrementally per measure and year: only the measures with new raw rows since
    the last build are recomputed, from the earliest year those rows changed
    (macros/incremental/measure_versions.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from='raw',
    measure_year_column='period_year',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}

-- the columns the year values read: the key, the period's parts, the numbers and the version
-- (file_id, row_ref). The rest of a version (its md5 id, department, unit, cell text, note, load
-- time, the period's first day) stays in the all-versions view, which computes it when read:
-- nothing downstream reads it here, and every column costs the window, the writes and the
-- checkpoint of 8.75 M rows (national; bench/notes.md, issue #22).
select
    file_id,
    row_ref,
    region_code,
    measure_code,
    period,
    period_kind,
    period_year,
    period_end_date,
    period_grain_rank,
    value,
    numerator,
    denominator
from {{ ref('stg_raw__submissions') }}
-- the years as period text: a filter on the window's partition columns only, which DuckDB applies
-- before the window (a 2025 file ranks the 2025 versions, not every year's: national, 0.47 -> 0.17 s)
where is_latest and {{ sc_rebuild_filter(changed_measures, period_column='period') }}
