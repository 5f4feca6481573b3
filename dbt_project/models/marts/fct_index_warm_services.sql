{#- 暖心服务指数 (zone WS): one row per region x year; see the index_fact macro and
    docs/methodology.md §6-7. -#}
{{ index_fact('WS') }}
