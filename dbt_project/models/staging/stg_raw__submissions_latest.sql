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
{#- The columns the year values read: the key, the period's parts, the numbers and the version
    (file_id, row_ref). The rest of a version (its md5 id, department, unit, cell text, note, load
    time, the period's first day) stays in the all-versions view, which computes it when read:
    nothing downstream reads it here, and every column costs the window, the writes and the
    checkpoint of 8.75 M rows (national; bench/notes.md, issue #22).
    Which version is in force: on a full build the view's flag (its window ranks every key's
    versions). After a file, for the changed measures and years (as period text, a filter the view
    applies before its window), the version from each key's highest file_id: the loader refuses a
    file's repeated keys (ingest/columnar.py), so that is one version, the one the flag marks (the
    column_rules test the key unique). Over a few keys' every version a join on it is cheaper than
    the window (national, six versions of one department's 2025 file: 0.29 -> 0.19 s); over every
    key the window is (8.75 M rows: 4.1 against 5.0 s). -#}
with versions as (
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
        denominator,
        is_latest
    from {{ ref('stg_raw__submissions') }}
    where {{ sc_rebuild_filter(changed_measures, period_column='period') }}
)

select * exclude (is_latest)
from versions
where
    {% if changed_measures is none -%}
        is_latest
    {%- else -%}
        exists (
            select 1
            from (
                select
                    measure_code,
                    region_code,
                    period,
                    max(file_id) as file_id
                from versions
                group by measure_code, region_code, period
            ) as latest_files
            where
                latest_files.measure_code = versions.measure_code
                and latest_files.region_code = versions.region_code
                and latest_files.period = versions.period
                and latest_files.file_id = versions.file_id
        )
    {%- endif %}
