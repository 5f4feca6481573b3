{#- What the generic tests of the per-measure incremental tables read (the one override of dbt's
    get_where_subquery in this project; README.md beside this file).

    After a submission an incremental build leaves every other row as the last build left it, and
    that build tested it (a build that did not pass marks the warehouse unfinished, and the next
    build is a full one: warehouse/dbt.py). So every generic test on a model with
    incremental_strategy 'replace_measures' reads only the rows the model rebuilt in this dbt
    invocation: the measures it recorded in the state table, from the earliest year it recorded
    for each (the strategy's own filter, sc_rebuild_filter_of: by zone for a per-zone table), and
    the rows its config rebuild_always matches (rebuilt in every build). Every key of such a model
    holds its period or year, and of a per-zone table its zone (tests/dbt/test_generic_test_scope.py),
    so a duplicate of a rebuilt row is a rebuilt row too.
    A full build records every measure and year, so it tests everything; an invocation that did
    not build the model (dbt test alone) or rebuilt none of its measures tests everything too.
    This is decided here, when the test runs (dbt compiles a test just before it runs it, after
    its model's post-hook recorded what it rebuilt), and named in the test's SQL: a test's where
    config is rendered when the project is parsed, and the warm dbt worker reuses one parse for
    many invocations; a lookup of the state table for every row cost the test of the rows in
    force 0.37 s at national size, the rows named 0.08 s. A where config of the test itself
    still applies.

    The fence: a test of any other relation (a seed, a view, a full table, a source) gets dbt's
    own default__get_where_subquery, unchanged. -#}

{% macro duckdb__get_where_subquery(relation) -%}
    {%- set node_config = sc_measure_incremental_config(relation) -%}
    {%- if node_config is none -%}
        {{ return(dbt.default__get_where_subquery(relation)) }}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set rebuilt = sc_rebuilt_in_this_invocation(relation.identifier) -%}
    {%- if rebuilt -%}
        {%- set always = node_config.get('rebuild_always') -%}
        {%- do conditions.append(
            '(' ~ sc_rebuild_filter_of(rebuilt, node_config) ~ ((' or (' ~ always ~ ')') if always else '') ~ ')'
        ) -%}
    {%- endif -%}
    {%- if not conditions -%}
        {{ return(dbt.default__get_where_subquery(relation)) }}
    {%- endif -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
{%- endmacro %}

{#- The [measure_code, from_year] pairs the model recorded in the state table in this invocation
    (its post-hook writes the measures and years it rebuilt), empty when it recorded none. -#}
{% macro sc_rebuilt_in_this_invocation(model_name) -%}
    {%- set rebuilt = [] -%}
    {%- set rows = run_query(
        "select measure_code, min(year) from " ~ sc_measure_versions_relation()
        ~ " where model_name = '" ~ model_name ~ "' and invocation_id = '" ~ invocation_id ~ "'"
        ~ " group by measure_code order by measure_code"
    ).rows -%}
    {%- for row in rows -%}
        {%- do rebuilt.append([row[0], row[1] | int]) -%}
    {%- endfor -%}
    {{ return(rebuilt) }}
{%- endmacro %}

{#- The config of relation when it is one of the current test's models that is incremental per
    measure, else none. -#}
{% macro sc_measure_incremental_config(relation) -%}
    {%- if not execute or model is not mapping -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for unique_id in model.get('depends_on', {}).get('nodes', []) -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node and node.resource_type == 'model'
            and (node.alias or node.name) == relation.identifier
            and node.config.materialized == 'incremental'
            and node.config.incremental_strategy == 'replace_measures' -%}
            {{ return(node.config) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
