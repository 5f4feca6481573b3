{#- 精准保障指数 (zone PP): one row per region x year; see the index_fact macro and
    docs/methodology.md §5-6. -#}
{{ index_fact('PP') }}
