{#- 和谐自治指数 (zone SG): one row per region x year; see the index_fact macro and
    docs/methodology.md §6-7. -#}
{{ index_fact('SG') }}
