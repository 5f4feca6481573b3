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

-- every column of the all-versions view but its flag and the version's md5 id: file_id and row_ref
-- name the version, and the view computes the id when read (national full build: 10.2 -> 7.5 s)
select * exclude (is_latest, submission_id)
from {{ ref('stg_raw__submissions') }}
-- the years as period text: a filter on the window's partition columns only, which DuckDB applies
-- before the window (a 2025 file ranks the 2025 versions, not every year's: national, 0.47 -> 0.17 s)
where is_latest and {{ sc_rebuild_filter(changed_measures, period_column='period') }}
