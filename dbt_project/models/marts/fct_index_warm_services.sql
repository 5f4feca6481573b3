{#- 暖心服务指数 (zone WS): one row per region x year; see the index_fact macro and
    docs/methodology.md §5-6. -#}
{{ index_fact('WS') }}
