{#- What the generic tests of the per-measure incremental tables read (the one override of dbt's
    get_where_subquery in this project; README.md beside this file).

    After a submission an incremental build leaves every other measure's rows as the last build
    left them, and that build tested them (a build that did not pass marks the warehouse
    unfinished, and the next build is a full one: warehouse/dbt.py). So every generic test on a
    model with incremental_strategy 'replace_measures' reads only the rows of the measures the
    model recorded in the state table in this dbt invocation, and the rows its config
    rebuild_always matches (rebuilt in every build). A full build records every
    measure, so it tests everything; an invocation that did not build the model (dbt test alone)
    or rebuilt none of its measures tests everything too. This is decided here, when the test
    runs, from the graph and the invocation_id: a test's where config is rendered when the
    project is parsed, and the warm dbt worker reuses one parse for many invocations. A where
    config of the test itself still applies.

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
    {%- set rebuilt -%}
        (select state.measure_code from {{ sc_measure_versions_relation() }} as state
        where state.model_name = '{{ relation.identifier }}'
        and state.invocation_id = '{{ invocation_id }}')
    {%- endset -%}
    {%- set always = node_config.get('rebuild_always') -%}
    {%- do conditions.append(
        '(measure_code in ' ~ rebuilt ~ ' or not exists ' ~ rebuilt
        ~ ((' or (' ~ always ~ ')') if always else '') ~ ')'
    ) -%}
    {{ return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
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
