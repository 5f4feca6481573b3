{#- 暖心服务指数: the index table of the zone whose index_model (seeds/zones.csv) names
    this model; one row per region x year (the index_fact macro, docs/methodology.md §6-7).
    A build after a file leaves it as it is unless the file feeds its zone
    (macros/incremental/zone_tables.sql). -#}
{{ config(
    materialized='zone_index_table',
    measure_versions_from=['int_dimension_scores_scored'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{{ index_fact() }}
