{#- Incremental rank intervals (int_index_rank_intervals, docs/methodology.md §7a).

    Each ranking (zone x year: every level of it) is drawn from its own inputs only: the scored
    values, goalposts and levels of the regions ranked in it and the weight shares of the zone's
    dimensions, plus the vars of the draws. A fingerprint of exactly those inputs is stored with
    every row. An incremental build redraws only the rankings whose fingerprint is new or
    differs (after a submission: the zones and years the submitted measures feed) and keeps the
    others' rows; rankings that no longer exist lose their rows. With --full-refresh or on the
    first build everything is drawn. A change of the model's SQL is not detected (as for every
    incremental model here): it needs dbt build --full-refresh (the daily build). -#}

{#- SQL (zone_code, year, input_fingerprint) of the current inputs, one row per ranking. -#}
{% macro rank_interval_fingerprints_sql() -%}
    {%- set draw_vars = [
        var('rank_mc_draws'), var('rank_mc_seed'), var('rank_mc_weight_concentration'),
        var('rank_mc_measurement_error'), var('rank_mc_alt_normaliser_share')
    ] | join(',') -%}
    select
        s.zone_code,
        s.year,
        concat_ws(
            ':',
            count(*),
            sum(cast(hash(
                s.region_code, s.region_level, s.dimension_code, s.scored_value,
                s.goalpost_worst, s.goalpost_best, w.weight_share
            ) as hugeint)),
            '{{ draw_vars }}'
        ) as input_fingerprint
    from {{ ref('int_dimension_scores_scored') }} as s
    inner join (
        select
            zone_code,
            region_code,
            year
        from {{ ref('int_index_scores_aggregated') }}
        where index_score is not null
    ) as r
        on
            s.zone_code = r.zone_code
            and s.region_code = r.region_code
            and s.year = r.year
    inner join (
        select
            zone_code,
            dimension_code,
            weight / sum(weight) over (partition by zone_code) as weight_share
        from (
            select distinct
                zone_code,
                dimension_code,
                weight
            from {{ ref('int_dimension_scores_scored') }}
        ) as distinct_weights
    ) as w
        on
            s.zone_code = w.zone_code
            and s.dimension_code = w.dimension_code
    where s.scored_value is not null
    group by s.zone_code, s.year
{%- endmacro %}

{#- Incremental strategy replace_rankings: delete the rows of every ranking whose stored
    fingerprint is not the current one (changed or vanished), insert the redrawn rankings (the
    temp relation holds exactly those). -#}
{% macro get_incremental_replace_rankings_sql(arg_dict) -%}
    {%- set target_relation = arg_dict['target_relation'] -%}
    {%- set temp_relation = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target_relation }} as t
    where not exists (
        select 1
        from ({{ rank_interval_fingerprints_sql() }}) as c
        where
            c.zone_code = t.zone_code
            and c.year = t.year
            and c.input_fingerprint = t.input_fingerprint
    );
    insert into {{ target_relation }} ({{ columns }})
    select {{ columns }} from {{ temp_relation }}
{%- endmacro %}

{#- The dbt invocation drawing the rows, as a SQL string. -#}
{% macro rank_interval_invocation_sql() -%}
    '{{ invocation_id }}'
{%- endmacro %}

{#- Whether an incremental run may keep stored rows: the table has fingerprints (a table built
    before they existed, or a first build, redraws everything). -#}
{% macro rank_intervals_keep_rows() -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {{ return('input_fingerprint' in names) }}
{%- endmacro %}
