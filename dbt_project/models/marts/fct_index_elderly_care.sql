{#- 幸福颐养指数 (zone EC): one row per region x year; see the index_fact macro and
    docs/methodology.md §6-7. -#}
{{ index_fact('EC') }}
