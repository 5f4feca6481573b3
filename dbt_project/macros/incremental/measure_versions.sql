{#- Incremental rebuilds of the per-value chain, measure by measure (issue #8).

    A department's file carries the measures that department owns, and every per-value model
    (the latest values, the year values, the roll-ups, the reconciled spine, the anomaly scores)
    and every per-year model on top of them (the allocated targets, the trajectories, the
    assessed progress and its mart fct_indicator_progress) is computed independently per
    measure_code (from that measure's rows and the seeds). So an incremental run recomputes only
    the measures whose submissions changed since the model was last built, i.e. the measures of
    the departments that (re)submitted, and leaves every other measure's rows untouched. Models
    that compare or combine measures (dimension scores, indices, alerts) stay full tables.

    "Changed" is read from the raw tables, per measure, as a version string
    `rows:max file_id:sum of file_ids` of raw.submissions (the raw layer is append-only and
    file_id grows with every file, so any new, superseding or added row moves it; a file rejected
    as a whole writes no row and moves nothing). Each incremental model records, in the state
    table intermediate.incremental_measure_versions, the version of every measure it was built
    from, in the same transaction as its rows (post-hook). The first model of the chain compares
    the live raw versions with its record; every model after it compares the record of its
    upstream model(s) with its own (config measure_versions_from), so a model never marks a
    measure done from inputs that were themselves out of date.

    On an incremental run a model deletes the rows of the changed measures (all of them, so
    shrinking or vanishing rows are handled) and inserts them recomputed from the full history of
    those measures (custom strategy replace_measures). With --full-refresh, on the first build, or
    when the state holds nothing for the model, the whole table is rebuilt and the state rewritten.
    Seed or code changes are not detected: they need dbt build --full-refresh (the daily build). -#}

{% macro sc_measure_versions_relation() -%}
    {{ return(api.Relation.create(
        database=target.database,
        schema=generate_schema_name('intermediate', none) | trim,
        identifier='incremental_measure_versions',
        type='table'
    )) }}
{%- endmacro %}

{#- on-run-start: the state table must exist before any incremental model reads it. -#}
{% macro sc_create_measure_versions_table() -%}
    {%- set state = sc_measure_versions_relation() -%}
    create schema if not exists {{ state.include(identifier=false) }};
    create table if not exists {{ state }} (
        model_name varchar not null,
        measure_code varchar not null,
        input_version varchar not null,
        invocation_id varchar not null,
        built_at timestamp not null
    )
{%- endmacro %}

{#- SQL (measure_code, input_version) of the inputs of the current model, per its config
    measure_versions_from: 'raw' (live versions of raw.submissions, read from the raw table itself:
    only the staging model stg_raw__submissions_latest sets it) or a list of upstream incremental models (their recorded
    versions; the distinct versions of several upstreams joined, so any disagreement counts).
    A model whose rows depend on the pipeline's "today" (var as_of: whether a year is over or has
    started) sets measure_versions_as_of=true: the year of as_of is part of its versions, so when
    the year of "today" moves every measure is recomputed, also by an incremental build (and,
    through the recorded versions, by every incremental model downstream of it). -#}
{% macro sc_input_measure_versions_sql() -%}
    {%- if config.get('measure_versions_as_of', false) -%}
        select
            measure_code,
            concat_ws(
                '|', input_version, 'as_of_year:' || cast({{ scorecard_as_of_year() }} as varchar)
            ) as input_version
        from ({{ sc_upstream_measure_versions_sql() }}) as upstream_versions
    {%- else -%}
        {{ sc_upstream_measure_versions_sql() }}
    {%- endif -%}
{%- endmacro %}

{% macro sc_upstream_measure_versions_sql() -%}
    {%- set upstreams = config.get('measure_versions_from') -%}
    {%- if upstreams == 'raw' -%}
        {#- Straight from the raw table's two columns, not through the typed staging view: its
            casts and plausibility join cost ~0.2 s a read at national size, and a build reads the
            versions up to four times (bench/notes.md). A row the view leaves out still moves the
            version: the measure is recomputed, with the same result. -#}
        select
            cast(measure_code as varchar) as measure_code,
            concat_ws(':', count(*), max(file_id), sum(file_id)) as input_version
        from {{ source('raw', 'submissions') }}
        group by 1
    {%- else -%}
        select
            measure_code,
            string_agg(distinct input_version, '|' order by input_version) as input_version
        from {{ sc_measure_versions_relation() }}
        where model_name in ('{{ upstreams | join("', '") }}')
        group by measure_code
    {%- endif -%}
{%- endmacro %}

{#- The measures the current model must recompute on an incremental run: a list of codes, or
    none for "all of them" (no state recorded for the model). Evaluated only when is_incremental(). -#}
{% macro sc_changed_measures() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set state = sc_measure_versions_relation() -%}
    {%- set recorded = run_query(
        "select count(*) from " ~ state ~ " where model_name = '" ~ this.identifier ~ "'"
    ).columns[0].values()[0] -%}
    {%- if recorded == 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed_sql -%}
        with current_versions as (
            {{ sc_input_measure_versions_sql() }}
        ),

        built_versions as (
            select measure_code, input_version
            from {{ state }}
            where model_name = '{{ this.identifier }}'
        )

        select coalesce(c.measure_code, b.measure_code) as measure_code
        from current_versions as c
        full outer join built_versions as b on c.measure_code = b.measure_code
        where c.input_version is distinct from b.input_version
        order by 1
    {%- endset -%}
    {{ return(run_query(changed_sql).columns[0].values() | list) }}
{%- endmacro %}

{#- What a model's SQL rebuilds: on an incremental run the changed measures (sc_changed_measures),
    otherwise (first build, --full-refresh) none, i.e. all of them. -#}
{% macro sc_measures_to_rebuild() -%}
    {{ return(sc_changed_measures() if is_incremental() else none) }}
{%- endmacro %}

{#- A predicate restricting a model to the changed measures (true when all are rebuilt). -#}
{% macro sc_measure_filter(column, changed_measures) -%}
    {%- if changed_measures is none -%}
        true
    {%- elif changed_measures | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ('{{ changed_measures | join("', '") }}')
    {%- endif -%}
{%- endmacro %}

{#- Incremental strategy replace_measures: delete every row of the changed measures, insert the
    recomputed ones (the temp relation holds exactly those). -#}
{% macro get_incremental_replace_measures_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set changed = sc_changed_measures() -%}
    delete from {{ target_relation }} where {{ sc_measure_filter('measure_code', changed) }};
    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ temp_relation }}
{%- endmacro %}

{#- Post-hook of every incremental model: record the input versions it was built from, for the
    measures it recomputed (all of them on a full build), in its own transaction. -#}
{% macro sc_record_measure_versions() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set state = sc_measure_versions_relation() -%}
    {%- set changed = none if should_full_refresh() else sc_changed_measures() -%}
    {%- set model_name = this.identifier -%}
    delete from {{ state }}
    where model_name = '{{ model_name }}' and {{ sc_measure_filter('measure_code', changed) }};
    insert into {{ state }} (model_name, measure_code, input_version, invocation_id, built_at)
    select
        '{{ model_name }}',
        measure_code,
        input_version,
        '{{ invocation_id }}',
        cast(now() as timestamp)
    from ({{ sc_input_measure_versions_sql() }}) as v
    where {{ sc_measure_filter('measure_code', changed) }}
{%- endmacro %}
