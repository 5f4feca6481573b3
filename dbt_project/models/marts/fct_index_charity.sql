{#- 人人慈善指数 (zone CH): one row per region x year; see the index_fact macro and
    docs/methodology.md §5-6. -#}
{{ index_fact('CH') }}
