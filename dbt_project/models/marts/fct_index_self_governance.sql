{#- 和谐自治指数: the index table of the zone whose index_model (seeds/zones.csv) names
    this model; one row per region x year (the index_fact macro, docs/methodology.md §6-7). -#}
{{ index_fact() }}
