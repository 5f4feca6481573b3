{#- 人人慈善指数 (zone CH): one row per region x year; see the index_fact macro and
    docs/methodology.md §6-7. -#}
{{ index_fact('CH') }}
