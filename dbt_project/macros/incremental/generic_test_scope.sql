{#- What the generic tests of the per-measure incremental tables read (the one override of dbt's
    get_where_subquery in this project; README.md beside this file).

    After a submission an incremental build leaves every other measure's rows as the last build
    left them, and that build tested them (a build that did not pass marks the warehouse
    unfinished, and the next build is a full one: warehouse/dbt.py). So every generic test on a
    model with incremental_strategy 'replace_measures' reads only the rows the model rebuilt in
    this dbt invocation: the measures it recorded in the state table, from the year it rebuilt
    each of them from. A full build records every
    measure, so it tests everything; an invocation that did not build the model (dbt test alone)
    or rebuilt none of its measures tests everything too. This is decided here, when the test
    runs, from the graph and the invocation_id: a test's where config is rendered when the
    project is parsed, and the warm dbt worker reuses one parse for many invocations. A where
    config of the test itself still applies.

    The fence: a test of any other relation (a seed, a view, a full table, a source) gets dbt's
    own default__get_where_subquery, unchanged. -#}

{% macro duckdb__get_where_subquery(relation) -%}
    {%- set node = sc_measure_incremental_node(relation) -%}
    {%- if node is none -%}
        {{ return(dbt.default__get_where_subquery(relation)) }}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {#- the rows the model rebuilt: its measures recorded in this invocation, from the year each
        was rebuilt from (the model's year column, or the year of its period text) -#}
    {%- set period_column = node.config.get('measure_period_column') -%}
    {%- if period_column -%}
        {%- set row_year = 'cast(substring(sc_tested.' ~ period_column ~ ', 1, 4) as integer)' -%}
    {%- else -%}
        {%- set row_year = 'sc_tested.' ~ (node.config.get('measure_year_column') or 'year') -%}
    {%- endif -%}
    {%- set state = sc_measure_versions_relation() -%}
    {%- set in_this_run -%}
        state.model_name = '{{ relation.identifier }}' and state.invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- set rebuilt_row -%}
        exists (select 1 from {{ state }} as state where {{ in_this_run }}
            and state.measure_code = sc_tested.measure_code and {{ row_year }} >= state.rebuilt_from_year)
    {%- endset -%}
    {%- set any_rebuilt -%}
        exists (select 1 from {{ state }} as state where {{ in_this_run }})
    {%- endset -%}
    {%- do conditions.append('(' ~ rebuilt_row ~ ' or not ' ~ any_rebuilt ~ ')') -%}
    {{ return('(select * from ' ~ relation ~ ' as sc_tested where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
{%- endmacro %}

{#- The graph node of relation when it is one of the current test's models that is incremental
    per measure (replace_measures), else none. -#}
{% macro sc_measure_incremental_node(relation) -%}
    {%- if not execute or model is not mapping -%}
        {{ return(none) }}
    {%- endif -%}
    {%- for unique_id in model.get('depends_on', {}).get('nodes', []) -%}
        {%- set node = graph.nodes.get(unique_id) -%}
        {%- if node and node.resource_type == 'model'
            and (node.alias or node.name) == relation.identifier
            and node.config.materialized == 'incremental'
            and node.config.incremental_strategy == 'replace_measures' -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}
