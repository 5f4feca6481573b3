{#- The index table of each zone (fct_index_<zone>, whose index_fact() in
    macros/scorecard_index_fact.sql sets this materialization): a table, rebuilt in full like any
    table, but left as it is by a build after a file whose measures feed none of its zone's
    dimensions. Its rows read that zone's dimension scores only (its index, rank
    intervals and dimension columns), so they stand as long as those did not move; the changed
    measures are read as for every incremental model (sc_changed_measures, config
    measure_versions_from and its post-hook), the zones they feed as for the per-zone models
    (sc_zones_fed_by). After one department's file: one or two zones in five; national, the build
    4.90 -> 4.59 s (bench/notes.md, issue #22). A table left as it is runs no statement: its
    result says so ("kept: ..."). -#}
{% materialization zone_index_table, adapter='duckdb' %}
    {%- if sc_zone_table_stands() -%}
        {%- do store_raw_result(
            'main', message='kept: no measure of its zone changed', code='KEPT', rows_affected=0
        ) -%}
        {{ return({'relations': [this.incorporate(type='table')]}) }}
    {%- endif -%}
    {{ return(materialization_table_duckdb()) }}
{% endmaterialization %}

{#- Whether the current zone's table stands: a build after a file (not --full-refresh), the table
    is there, its recorded versions are there, and none of the measures changed since feeds its
    zone. -#}
{% macro sc_zone_table_stands() -%}
    {%- if not execute or should_full_refresh() or load_cached_relation(this) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set changed = sc_changed_measures() -%}
    {%- if changed is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set fed = sc_zones_fed_by(changed) or [] -%}
    {{ return(index_fact_zone() not in (fed | map('first') | list)) }}
{%- endmacro %}
