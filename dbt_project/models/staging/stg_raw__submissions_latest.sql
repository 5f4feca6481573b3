{#- The value in force for each measure x region x period: the latest version (highest file_id).
    A table, rebuilt incrementally per measure: only the measures with new raw rows since the
    last build are recomputed (macros/incremental/measure_versions.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from='raw',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}

-- every column of the all-versions view but its flag
select * exclude (is_latest)
from {{ ref('stg_raw__submissions') }}
where is_latest and {{ sc_measure_filter('measure_code', changed_measures) }}
