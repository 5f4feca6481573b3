{#- Incremental rebuilds of the per-value chain, by measure and year (issues #8, #22).

    A department's file carries the measures that department owns, and every per-value model
    (the latest values, the year values, the roll-ups, the reconciled spine, the anomaly scores)
    and every per-year model on top of them (the allocated targets, the trajectories, the
    assessed progress and its mart fct_indicator_progress) is computed independently per
    measure_code (from that measure's rows and the seeds). So an incremental run recomputes only
    the measures whose submissions changed since the model was last built, i.e. the measures of
    the departments that (re)submitted, and leaves every other measure's rows untouched. So are the
    dimension scores (a dimension scores one measure: int_dimension_scores_scored and its mart
    fct_index_dimension_scores), and the alerts on progress (fct_alerts, whose other alerts are
    rebuilt in every build: config rebuild_always). Models that combine measures (indices) stay
    full tables.

    A row of year Y is computed from that measure's rows of year Y and earlier years only (a year
    value, its roll-up, its target, a trajectory over the values up to Y, the change against the
    year before): never from a later year. So when the earliest changed year of a measure is Y,
    its rows of the years before Y stand as they are, and only its rows of Y and later are
    recomputed (a department's 2025 file recomputes 2025, not 2021-2024).

    "Changed" is read from the raw tables, per measure and year, as a version string
    `rows:max file_id:sum of file_ids` of raw.submissions (the raw layer is append-only and
    file_id grows with every file, so any new, superseding or added row moves it; a file rejected
    as a whole writes no row and moves nothing). Each incremental model records, in the state
    table intermediate.incremental_measure_versions, the version of every measure and year it was
    built from, in the same transaction as its rows (post-hook). The first model of the chain compares
    the live raw versions with its record; every model after it compares the record of its
    upstream model(s) with its own (config measure_versions_from), so a model never marks a
    measure done from inputs that were themselves out of date.

    On an incremental run a model deletes the rows of the changed measures from their earliest
    changed year on (all of them, so shrinking or vanishing rows are handled) and inserts them
    recomputed from the history of those measures (custom strategy replace_measures; the model's
    config measure_year_column names its year column, 'year' by default, or measure_period_column
    its period text when it has no year column). With --full-refresh, on the first build, or
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
        year integer not null,
        input_version varchar not null,
        invocation_id varchar not null,
        built_at timestamp not null
    );
    {#- A state table written before versions were kept per year: its rows get year 0, which no
        input has, so each of its measures is recomputed once in full and recorded per year. -#}
    alter table {{ state }} add column if not exists year integer default 0
{%- endmacro %}

{#- SQL (measure_code, year, input_version) of the inputs of the current model, per its config
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
            year,
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
        {#- Straight from the raw table's columns, not through the typed staging view: its
            casts and plausibility join cost ~0.2 s a read at national size, and a build reads the
            versions up to four times (bench/notes.md). A row the view leaves out still moves the
            version: the measure is recomputed, with the same result. The year is the period's
            first four characters, as period_year() reads it; a period without one counts as
            year 0, i.e. before every year. -#}
        select
            cast(measure_code as varchar) as measure_code,
            coalesce(try_cast(substring(cast(period as varchar), 1, 4) as integer), 0) as year,
            concat_ws(':', count(*), max(file_id), sum(file_id)) as input_version
        from {{ source('raw', 'submissions') }}
        group by 1, 2
    {%- else -%}
        select
            measure_code,
            year,
            string_agg(distinct input_version, '|' order by input_version) as input_version
        from {{ sc_measure_versions_relation() }}
        where model_name in ('{{ upstreams | join("', '") }}')
        group by measure_code, year
    {%- endif -%}
{%- endmacro %}

{#- What the current model must recompute on an incremental run: a list of [measure_code,
    from_year] pairs, the measures whose inputs changed and the earliest year whose version
    differs, or none for "all of them" (no state recorded for the model). Evaluated only when
    is_incremental(). -#}
{% macro sc_changed_measures() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {#- One answer per model and invocation: its SQL, the strategy and the post-hook each ask, and
        what they read does not change in between (the model's own state is written after the
        last asks). Kept in dbt's graph, the one dict every context of the invocation shares:
        two queries fewer for every incremental model, two scans of raw.submissions fewer for the
        rows in force (national: ~0.5 s of a build after a file; bench/notes.md). -#}
    {%- set memo = graph.setdefault('sc_changed_measures', {}) -%}
    {%- set memo_key = invocation_id ~ ':' ~ this.identifier -%}
    {%- if memo_key not in memo -%}
        {%- do memo.update({memo_key: sc_query_changed_measures()}) -%}
    {%- endif -%}
    {{ return(memo[memo_key]) }}
{%- endmacro %}

{#- sc_changed_measures, from the database. -#}
{% macro sc_query_changed_measures() -%}
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
            select measure_code, year, input_version
            from {{ state }}
            where model_name = '{{ this.identifier }}'
        )

        select
            coalesce(c.measure_code, b.measure_code) as measure_code,
            min(coalesce(c.year, b.year)) as from_year
        from current_versions as c
        full outer join built_versions as b on c.measure_code = b.measure_code and c.year = b.year
        where c.input_version is distinct from b.input_version
        group by 1
        order by 1
    {%- endset -%}
    {%- set changed = [] -%}
    {%- for row in run_query(changed_sql).rows -%}
        {%- do changed.append([row[0], row[1] | int]) -%}
    {%- endfor -%}
    {{ return(changed) }}
{%- endmacro %}

{#- What a model's SQL rebuilds: on an incremental run the changed measures and years
    (sc_changed_measures), otherwise (first build, --full-refresh) none, i.e. all of them. -#}
{% macro sc_measures_to_rebuild() -%}
    {{ return(sc_changed_measures() if is_incremental() else none) }}
{%- endmacro %}

{#- A predicate restricting a model to the changed measures, every year of them (true when all
    are rebuilt): for reading the history a recomputed year stands on. -#}
{% macro sc_measure_filter(column, changed_measures) -%}
    {%- if changed_measures is none -%}
        true
    {%- elif changed_measures | length == 0 -%}
        false
    {%- else -%}
        {{ column }} in ('{{ changed_measures | map('first') | join("', '") }}')
    {%- endif -%}
{%- endmacro %}

{#- A predicate restricting a model to the rows it rebuilds: the changed measures from their
    earliest changed year on (true when all are rebuilt). year_column is an integer year; or,
    with period_column instead, a period text ('2025', '2025-Q2', '2025-06'), compared as text
    ('2025-06' >= '2025'), which DuckDB can push below a window partitioned by the period. -#}
{% macro sc_rebuild_filter(changed_measures, year_column='year', measure_column='measure_code', period_column=none) -%}
    {%- if changed_measures is none -%}
        true
    {%- elif changed_measures | length == 0 -%}
        false
    {%- else -%}
        {%- set by_year = {} -%}
        {%- for pair in changed_measures -%}
            {%- do by_year.setdefault(pair[1], []).append(pair[0]) -%}
        {%- endfor -%}
        (
        {%- for from_year in by_year | sort %}
            {% if not loop.first %}or {% endif -%}
            ({{ measure_column }} in ('{{ by_year[from_year] | join("', '") }}')
            {%- if from_year > 0 and period_column %} and {{ period_column }} >= '{{ "%04d" | format(from_year) }}'
            {%- elif from_year > 0 %} and {{ year_column }} >= {{ from_year }}
            {%- endif -%})
        {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#- The physical order of a replace_measures table, the last clause of its select: its rows lie
    by measure and year in a full build, and the rows a build after a file recomputes (selected by
    the same SQL) are appended in that order. So the build deletes the changed measures' rows from
    few row groups; scattered over all of them, DuckDB's checkpoint merged and rewrote the table
    (national, the annualised values after one department's file: 0.33 -> 0.01 s; bench/notes.md).
    Not the rows in force: raw-sized, their sort costs a full build seconds and their checkpoint
    the same either way. year_column: 'period' where a model has no year column. -#}
{% macro sc_stored_in_measure_order(year_column='year') -%}
    order by measure_code, {{ year_column }}
{%- endmacro %}

{#- sc_rebuild_filter on a replace_measures model's own columns (its config
    measure_year_column, default year, or measure_period_column): what its strategy deletes, and
    what its generic tests read after a file (generic_test_scope.sql). A model whose rows combine
    a zone's dimensions (config measure_zone_column, its zone column: the index changes) is
    rebuilt by zone instead: the zones the changed measures feed, from their earliest year. -#}
{% macro sc_rebuild_filter_of(changed_measures, model_config) -%}
    {%- set zone_column = model_config.get('measure_zone_column') -%}
    {%- if zone_column -%}
        {{ return(sc_zone_rebuild_filter(
            changed_measures, zone_column, model_config.get('measure_year_column', 'year')
        )) }}
    {%- endif -%}
    {{ return(sc_rebuild_filter(
        changed_measures,
        model_config.get('measure_year_column', 'year'),
        period_column=model_config.get('measure_period_column')
    )) }}
{%- endmacro %}

{#- The rebuild filter of a per-zone model (config measure_zone_column): the zones the changed
    measures feed (sc_zones_fed_by), each from its earliest changed year. The model's SQL calls it
    directly (sqlfluff's stub config has no get), its strategy and tests through sc_rebuild_filter_of. -#}
{% macro sc_zone_rebuild_filter(changed_measures, zone_column='zone_code', year_column='year') -%}
    {{ return(sc_rebuild_filter(sc_zones_fed_by(changed_measures), year_column, measure_column=zone_column)) }}
{%- endmacro %}

{#- The [zone_code, from_year] pairs of the zones whose dimensions score the changed measures
    (seeds/index_dimensions.csv: a dimension scores one measure), each from the earliest year of
    its measures. A row of a zone and year reads that zone's dimension scores of that year and
    the year before, so it stands as long as none of them moved. none (everything) stays none; a
    measure no dimension scores feeds no zone. A per-zone model's SQL, its strategy and its tests
    each ask: looked up once per invocation and list of measures (the seed does not change within
    an invocation), kept in dbt's graph as sc_changed_measures' answers are. -#}
{% macro sc_zones_fed_by(changed_measures) -%}
    {%- if changed_measures is none or changed_measures | length == 0 -%}
        {{ return(changed_measures) }}
    {%- endif -%}
    {%- set memo = graph.setdefault('sc_zones_fed_by', {}) -%}
    {%- set memo_key = invocation_id ~ ':' ~ changed_measures | string -%}
    {%- if memo_key not in memo -%}
        {%- do memo.update({memo_key: sc_query_zones_fed_by(changed_measures)}) -%}
    {%- endif -%}
    {{ return(memo[memo_key]) }}
{%- endmacro %}

{#- sc_zones_fed_by, from the seed. -#}
{% macro sc_query_zones_fed_by(changed_measures) -%}
    {%- set seed = graph.nodes['seed.' ~ project_name ~ '.index_dimensions'] -%}
    {%- set dimensions = api.Relation.create(
        database=seed.database, schema=seed.schema, identifier=seed.alias or seed.name
    ) -%}
    {%- set changed = [] -%}
    {%- for pair in changed_measures -%}
        {%- do changed.append("('" ~ pair[0] ~ "', " ~ (pair[1] | int) ~ ")") -%}
    {%- endfor -%}
    {%- set zones = [] -%}
    {%- for row in run_query(
        "select d.zone_code, min(c.from_year) from (values " ~ changed | join(', ')
        ~ ") as c (measure_code, from_year) inner join " ~ dimensions
        ~ " as d on c.measure_code = d.measure_code group by 1 order by 1"
    ).rows -%}
        {%- do zones.append([row[0], row[1] | int]) -%}
    {%- endfor -%}
    {{ return(zones) }}
{%- endmacro %}

{#- Incremental strategy replace_measures: delete the rows of the changed measures and years,
    insert the recomputed ones (the temp relation holds exactly those). A model whose config
    rebuild_always holds a predicate also rebuilds the rows it matches in every build (its SQL
    selects them whatever changed): fct_alerts' milestone and deadline alerts, which come from
    full tables. -#}
{% macro get_incremental_replace_measures_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set changed = sc_changed_measures() -%}
    {%- set rebuild_always = config.get('rebuild_always') -%}
    delete from {{ target_relation }}
    where {{ sc_rebuild_filter_of(changed, config) }}
    {%- if rebuild_always %} or ({{ rebuild_always }}){% endif %};
    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ temp_relation }}
{%- endmacro %}

{#- Post-hook of every incremental model: record the input versions it was built from, for the
    measures and years it recomputed (all of them on a full build), in its own transaction. -#}
{% macro sc_record_measure_versions() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set state = sc_measure_versions_relation() -%}
    {%- set changed = none if should_full_refresh() else sc_changed_measures() -%}
    {%- set model_name = this.identifier -%}
    delete from {{ state }}
    where model_name = '{{ model_name }}' and {{ sc_rebuild_filter(changed) }};
    insert into {{ state }} (model_name, measure_code, year, input_version, invocation_id, built_at)
    select
        '{{ model_name }}',
        measure_code,
        year,
        input_version,
        '{{ invocation_id }}',
        cast(now() as timestamp)
    from ({{ sc_input_measure_versions_sql() }}) as v
    where {{ sc_rebuild_filter(changed) }}
{%- endmacro %}
