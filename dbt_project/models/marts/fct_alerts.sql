{#- Alerts 预警: one row per
      target_missed        an annual target not met in a year that is over (never for an
                           incomplete total or a region without a target of its own);
      milestone_missed     a unit the list names (or the province's roll-up) behind the year's
                           milestone in a year that is over (EC02, fct_milestone_status);
      projected_miss       the year in progress projects at_risk / off_track toward the
                           end-of-plan target;
      missing_submission   a monitored reporting period past its deadline with no file;
      late_submission      a monitored reporting period whose first file came after the deadline.
    alert_id = md5(kind|measure|region|department|period): the same finding gets the same id on
    every run, so delivery can raise each alert once. Severity high / medium / low
    (docs/methodology.md §8).
    Incremental per measure and year for the alerts on progress (target_missed, projected_miss:
    a row of a measure and year reads that measure's progress of that year only), like
    fct_indicator_progress (macros/incremental/measure_versions.sql); the milestone and deadline
    alerts come from full tables rebuilt in every build and are rebuilt with them
    (rebuild_always). At national size a build after one department's file rewrote ~117,000
    alerts with their messages; now the resubmitted measures' years. Column changes need a full
    refresh (on_schema_change='fail', as for fct_indicator_progress). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_indicator_progress_assessed'],
    rebuild_always="alert_kind in ('milestone_missed', 'missing_submission', 'late_submission')",
    on_schema_change='fail',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{%- set high_below = var('alert_high_below_attainment_pct') -%}
with progress as (
    select * from {{ ref('int_indicator_progress_assessed') }}
    where {{ sc_rebuild_filter(changed_measures) }}
),

-- The unit in words after a number: "12500 yuan per person per year", "85%", "826".
measures as (
    select
        m.*,
        case
            when u.name_en = '%' then '%'
            when coalesce(u.name_en, '') = '' then ''
            else ' ' || u.name_en
        end as unit_suffix_en
    from {{ ref('int_measures_classified') }} as m
    left join {{ ref('units') }} as u on m.unit = u.unit
),

regions as (
    select * from {{ ref('regions') }}
),

target_missed as (
    select
        'target_missed' as alert_kind,
        case
            when p.attainment_pct is null or p.attainment_pct < {{ high_below }} then 'high'
            else 'medium'
        end as severity,
        p.measure_code,
        p.region_code,
        cast(null as varchar) as department_code,
        cast(p.year as varchar) as period,
        p.year,
        p.actual_value,
        p.target_value,
        p.attainment_pct,
        {{ message_concat([
            "r.name_zh", "'「'", "m.name_zh", "'」'", "cast(p.year as varchar)",
            "'年未完成年度目标：实际 '", message_number('p.actual_value'), "' '", "m.unit_zh",
            "'，目标 '", message_number('p.target_value'), "' '", "m.unit_zh",
            "'，完成率 '", message_number('p.attainment_pct'), "'%。'"
        ]) }} as message_zh,
        {{ message_concat([
            "r.name_en", "': '", "m.name_en", "' missed its '", "cast(p.year as varchar)",
            "' target: actual '", message_number('p.actual_value'), "m.unit_suffix_en", "', target '",
            message_number('p.target_value'), "m.unit_suffix_en", "', attainment '",
            message_number('p.attainment_pct'), "'%.'"
        ]) }} as message_en
    from progress as p
    inner join measures as m on p.measure_code = m.measure_code
    inner join regions as r on p.region_code = r.region_code
    where
        p.year_status = 'not_met'
        and p.is_year_over
),

projected_miss as (
    select
        'projected_miss' as alert_kind,
        case when p.progress_status = 'off_track' then 'high' else 'medium' end as severity,
        p.measure_code,
        p.region_code,
        cast(null as varchar) as department_code,
        cast(p.year as varchar) as period,
        p.year,
        p.projected_final_value as actual_value,
        p.final_target_value as target_value,
        p.projected_attainment_pct as attainment_pct,
        {{ message_concat([
            "r.name_zh", "'「'", "m.name_zh", "'」按目前趋势预计'", "cast(p.final_target_year as varchar)",
            "'年达到 '", message_number('p.projected_final_value'), "' '", "m.unit_zh",
            "'，低于目标 '", message_number('p.final_target_value'), "' '", "m.unit_zh",
            "case when p.progress_status = 'off_track' then '（严重滞后）。' else '（存在风险）。' end"
        ]) }} as message_zh,
        {{ message_concat([
            "r.name_en", "': '", "m.name_en", "' is projected to reach '",
            message_number('p.projected_final_value'), "m.unit_suffix_en", "' by '",
            "cast(p.final_target_year as varchar)", "', short of the target '",
            message_number('p.final_target_value'), "m.unit_suffix_en", "'; '",
            "replace(p.progress_status, '_', ' ')", "'.'"
        ]) }} as message_en
    from progress as p
    inner join measures as m on p.measure_code = m.measure_code
    inner join regions as r on p.region_code = r.region_code
    where p.progress_status in ('at_risk', 'off_track')
),

milestone_missed as (
    select
        'milestone_missed' as alert_kind,
        case when ms.region_level = 'county' then 'medium' else 'high' end as severity,
        ms.measure_code,
        ms.region_code,
        cast(null as varchar) as department_code,
        cast(ms.year as varchar) as period,
        ms.year,
        cast(coalesce(ms.required_met_pct, ms.status_rank) as double) as actual_value,
        cast(case when ms.region_level = 'province' then 100 else ms.target_level_rank end as double)
            as target_value,
        cast(null as double) as attainment_pct,
        case
            when ms.region_level = 'province'
                then {{ message_concat([
                    "r.name_zh", "'「'", "m.name_zh", "'」'", "cast(ms.year as varchar)",
                    "'年里程碑未全部达成：'", "cast(ms.required_units_met as varchar)", "'/'",
                    "cast(ms.required_units as varchar)", "' 个应编制单位达到「'", "ms.target_text_zh", "'」。'"
                ]) }}
            else {{ message_concat([
                "r.name_zh", "'「'", "m.name_zh", "'」'", "cast(ms.year as varchar)",
                "'年未达到里程碑：现为「'", "coalesce(ms.status_name_zh, '未报告')", "'」，要求「'",
                "ms.target_text_zh", "'」。'"
            ]) }}
        end as message_zh,
        case
            when ms.region_level = 'province'
                then {{ message_concat([
                    "r.name_en", "': '", "m.name_en", "' - '", "cast(ms.required_units_met as varchar)", "' of '",
                    "cast(ms.required_units as varchar)", "' required units reached the '",
                    "cast(ms.year as varchar)", "' milestone ('", "ms.target_text_en", "').'"
                ]) }}
            else {{ message_concat([
                "r.name_en", "': '", "m.name_en", "' missed the '", "cast(ms.year as varchar)",
                "' milestone: '", "coalesce(ms.status_name_en, 'not reported')", "', required: '",
                "ms.target_text_en", "'.'"
            ]) }}
        end as message_en
    from {{ ref('fct_milestone_status') }} as ms
    inner join measures as m on ms.measure_code = m.measure_code
    inner join regions as r on ms.region_code = r.region_code
    where
        ms.year_status = 'not_met'
        and ms.is_year_over
),

submissions as (
    select
        case c.submission_status
            when 'missing' then 'missing_submission'
            else 'late_submission'
        end as alert_kind,
        case
            when c.submission_status = 'missing' then 'high'
            when c.days_late > 7 then 'medium'
            else 'low'
        end as severity,
        cast(null as varchar) as measure_code,
        cast(null as varchar) as region_code,
        c.department_code,
        c.period,
        c.year,
        cast(null as double) as actual_value,
        cast(null as double) as target_value,
        cast(null as double) as attainment_pct,
        case c.submission_status
            when 'missing'
                then {{ message_concat([
                    "d.name_zh", "' '", "c.period", "' 期数据未报送（截止日期 '",
                    "cast(c.deadline_date as varchar)", "'）。'"
                ]) }}
            else {{ message_concat([
                "d.name_zh", "' '", "c.period", "' 期数据逾期 '", "cast(c.days_late as varchar)",
                "' 天报送（截止日期 '", "cast(c.deadline_date as varchar)", "'）。'"
            ]) }}
        end as message_zh,
        case c.submission_status
            when 'missing'
                then {{ message_concat([
                    "d.name_en", "': no submission for '", "c.period", "' (deadline '",
                    "cast(c.deadline_date as varchar)", "').'"
                ]) }}
            else {{ message_concat([
                "d.name_en", "': the '", "c.period", "' submission came '", "cast(c.days_late as varchar)",
                "' days after the deadline ('", "cast(c.deadline_date as varchar)", "').'"
            ]) }}
        end as message_en
    from {{ ref('int_submission_deadlines_checked') }} as c
    inner join {{ ref('departments') }} as d on c.department_code = d.department_code
    where
        c.is_monitored
        and c.submission_status in ('missing', 'late')
),

alerts as (
    select * from target_missed
    union all
    select * from milestone_missed
    union all
    select * from projected_miss
    union all
    select * from submissions
)

select
    cast({{ sc_hash(message_concat([
        "alert_kind", "'|'", "measure_code", "'|'", "region_code", "'|'", "department_code", "'|'", "period"
    ])) }} as varchar) as alert_id,
    cast(alert_kind as varchar) as alert_kind,
    cast(severity as varchar) as severity,
    cast(measure_code as varchar) as measure_code,
    cast(region_code as varchar) as region_code,
    cast(department_code as varchar) as department_code,
    cast(period as varchar) as period,
    cast(year as integer) as year,
    cast(actual_value as double) as actual_value,
    cast(target_value as double) as target_value,
    cast(attainment_pct as double) as attainment_pct,
    cast(message_zh as varchar) as message_zh,
    cast(message_en as varchar) as message_en
from alerts
{{ sc_stored_in_measure_order() }}
