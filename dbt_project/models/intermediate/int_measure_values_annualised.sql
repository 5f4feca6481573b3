{#- The year value of each submitted measure x region: the value as of year end, i.e. the latest
    submitted period within the year (an annual value wins over a Q4 or December value ending the
    same day), with the date it describes (source_period_end: 31 December for an annual value,
    the quarter's or month's last day otherwise). Also derives the numerator and denominator a ratio-type value rolls up with:
      - rate / ratio: the submitted numerator and denominator;
      - density: the submitted count and population when given, else the seeded population
        (resident or elderly, per measures.population_base) and the count implied by the value.
    The value is recomputed from its parts when both are present, so a region's value and its
    roll-up use the same arithmetic. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['stg_raw__submissions_latest'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: only the measures whose latest values changed are
    recomputed, from the earliest year they changed; a year's value reads that year's periods only
    (macros/incremental/measure_versions.sql). -#}

with latest as (
    select * from {{ ref('stg_raw__submissions_latest') }}
    where
        period_year between {{ var('first_year') }} and {{ var('last_year') }}
        and {{ sc_rebuild_filter(changed_measures, 'period_year') }}
),

year_end as (
    select
        *,
        row_number() over (
            partition by measure_code, region_code, period_year
            order by period_end_date desc, period_grain_rank asc
        ) as year_end_rank
    from latest
),

measures as (
    select * from {{ ref('int_measures_classified') }}
    where is_value_measure and {{ sc_measure_filter('measure_code', changed_measures) }}
),

joined as (
    select
        y.measure_code,
        y.region_code,
        r.region_level,
        y.period_year as year,
        y.period as source_period,
        y.period_kind as source_period_kind,
        cast(y.period_end_date as date) as source_period_end,
        y.file_id,
        y.row_ref,
        y.value as submitted_value,
        y.numerator as submitted_numerator,
        y.denominator as submitted_denominator,
        m.measure_kind,
        m.value_scale,
        case m.population_base
            when 'elderly' then p.elderly_population
            when 'resident' then p.resident_population
        end as seeded_population
    from year_end as y
    inner join measures as m on y.measure_code = m.measure_code
    inner join {{ ref('regions') }} as r on y.region_code = r.region_code
    left join {{ ref('int_region_populations_filled') }} as p
        on
            y.region_code = p.region_code
            and y.period_year = p.year
    where y.year_end_rank = 1
),

parts as (
    select
        *,
        case
            when measure_kind = 'density' and submitted_denominator is not null then 'submitted'
            when measure_kind = 'density' and seeded_population is not null then 'seeded_population'
            when measure_kind in ('rate', 'ratio') and submitted_denominator is not null then 'submitted'
        end as denominator_source,
        case
            when measure_kind = 'density' then coalesce(submitted_denominator, seeded_population)
            when measure_kind in ('rate', 'ratio') then submitted_denominator
        end as denominator
    from joined
),

with_numerator as (
    select
        *,
        case
            when measure_kind in ('rate', 'ratio') and denominator is not null then submitted_numerator
            when measure_kind = 'density' and submitted_numerator is not null then submitted_numerator
            -- A density given as a value only: the count it implies, so it can still roll up.
            when measure_kind = 'density' and denominator is not null
                then submitted_value * denominator / value_scale
        end as numerator
    from parts
)

select
    measure_code,
    region_code,
    region_level,
    year,
    source_period,
    source_period_kind,
    source_period_end,
    file_id,
    row_ref,
    submitted_value,
    submitted_numerator,
    submitted_denominator,
    numerator,
    denominator,
    denominator_source,
    numerator is not null and denominator is not null and denominator > 0 as has_parts,
    case
        when numerator is not null and denominator > 0 and submitted_numerator is not null
            then numerator / denominator * value_scale
        else submitted_value
    end as value
from with_numerator
{{ sc_stored_in_measure_order() }}
