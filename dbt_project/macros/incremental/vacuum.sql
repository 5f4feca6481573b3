{#- on-run-start: who compacts the row groups a build's deletes leave half empty.

    DuckDB's checkpoint, besides writing what changed, merges row groups that deletes left partly
    empty (its vacuum). After one department's file that merge was most of the build's
    checkpoint, and when the checkpoint started inside the build (the write-ahead log past its
    threshold) both dbt threads stood still behind it: national, a stall of ~0.5 s of a ~5 s
    build, the rows in force alone 0.10 s of vacuum against 0.005 s without (bench/notes.md,
    issue #22). A build after a file (in place) leaves the merge to the next full build, which
    rewrites every table on a fresh copy (the first build of each day is one: warehouse/dbt.py,
    resolve_mode), so the row groups a day of files leaves half empty last a day at most. National:
    eight builds after eight corrections of one department's file left the warehouse file at the
    same size; ten deletes and re-inserts of that department's rows in force left the table at the
    same 75 row groups and the same scan time. A full build keeps DuckDB's default. -#}
{% macro sc_vacuum_setting() -%}
    {%- if flags.FULL_REFRESH -%}
        reset max_vacuum_tasks
    {%- else -%}
        set max_vacuum_tasks = 0
    {%- endif -%}
{%- endmacro %}
