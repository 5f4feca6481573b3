{#- 和谐自治指数 (zone SG): one row per region x year; see the index_fact macro and
    docs/methodology.md §5-6. -#}
{{ index_fact('SG') }}
