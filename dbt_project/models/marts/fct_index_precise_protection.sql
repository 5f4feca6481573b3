{#- 精准保障指数 (zone PP): one row per region x year; see the index_fact macro and
    docs/methodology.md §6-7. -#}
{{ index_fact('PP') }}
