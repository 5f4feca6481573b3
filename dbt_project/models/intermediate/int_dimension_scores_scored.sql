{#- 0-100 score of every index dimension for every region and programme year on ONE fixed scale
    per dimension (docs/methodology.md §6): the same goalposts for the province, the cities and
    the counties, in every year, written in seeds/index_dimensions.csv (goalpost_worst,
    goalpost_best, with their basis), never computed from the regions of the year.

      scored_value     what is scored (scored_quantity):
                         value          the measure's year value;
                         share_meeting  100 x units at the condition level meeting the condition
                                        / units with a value (the region itself at that level);
                         per_capita     value x quantity_scale / resident population;
                         pct_of_plan    100 x value / the region's end-of-plan target;
      dimension_score  100 x (scored_value - worst) / (best - worst), within 0-100 (best below
                       worst: lower is better, the same formula);
      dimension_score_alt  the documented alternative normaliser (rank robustness only):
                       distance to the best goalpost, 100 x scored_value / best (best / scored_value
                       where lower is better), within 0-100.
    A region without a value has no score (null): the index reweights what remains. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_indicator_progress_assessed'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: a dimension scores one measure, and a year's score reads that
    measure's progress of that year (and the seeds) only, so a file recomputes the scores of its
    measures from the earliest year it changed (macros/incremental/measure_versions.sql). -#}

with dimensions as (
    select
        zone_code,
        dimension_code,
        cast(dimension_no as integer) as dimension_no,
        cast(weight as double) as weight,
        measure_code,
        scoring_method,
        scored_quantity,
        cast(quantity_scale as double) as quantity_scale,
        cast(goalpost_worst as double) as goalpost_worst,
        cast(goalpost_best as double) as goalpost_best
    from {{ ref('index_dimensions') }}
    where {{ sc_measure_filter('measure_code', changed_measures) }}
),

years as (
    {{ programme_years() }}
),

progress as (
    select
        measure_code,
        region_code,
        year,
        actual_value,
        target_value,
        attainment_pct,
        final_target_value,
        is_complete
    from {{ ref('int_indicator_progress_assessed') }}
    where {{ sc_rebuild_filter(changed_measures) }}
),

-- share_meeting: each region's units at the condition level (itself, or those below it) that
-- have a value, and how many of them meet the condition.
units_meeting as (
    select
        d.dimension_code,
        a.ancestor_code as region_code,
        p.year,
        count(p.actual_value) as units_reporting,
        count(case when p.actual_value >= m.condition_threshold then 1 end) as units_meeting
    from dimensions as d
    inner join {{ ref('int_measures_classified') }} as m on d.measure_code = m.measure_code
    inner join {{ ref('regions') }} as u on m.condition_level = u.region_level
    inner join {{ ref('int_region_ancestors_flattened') }} as a on u.region_code = a.region_code
    inner join progress as p
        on
            d.measure_code = p.measure_code
            and u.region_code = p.region_code
    where d.scored_quantity = 'share_meeting'
    group by d.dimension_code, a.ancestor_code, p.year
),

joined as (
    select
        d.zone_code,
        d.dimension_code,
        d.dimension_no,
        d.weight,
        d.measure_code,
        d.scoring_method,
        d.scored_quantity,
        d.goalpost_worst,
        d.goalpost_best,
        m.direction,
        r.region_code,
        r.region_level,
        y.year,
        p.actual_value,
        p.target_value,
        p.attainment_pct,
        case
            -- A total with missing children (year_status 'incomplete') is not scored: the index
            -- loses the dimension's weight from its coverage instead of scoring a partial sum.
            when not coalesce(p.is_complete, true) then null
            when d.scored_quantity = 'value' then p.actual_value
            when d.scored_quantity = 'share_meeting' and p.actual_value is not null
                then 100.0 * u.units_meeting / nullif(u.units_reporting, 0)
            when d.scored_quantity = 'per_capita'
                then p.actual_value * d.quantity_scale / nullif(pop.resident_population, 0)
            when d.scored_quantity = 'pct_of_plan'
                then 100.0 * p.actual_value / nullif(p.final_target_value, 0)
        end as scored_value
    from dimensions as d
    inner join {{ ref('int_measures_classified') }} as m on d.measure_code = m.measure_code
    cross join {{ ref('regions') }} as r
    cross join years as y
    left join progress as p
        on
            d.measure_code = p.measure_code
            and r.region_code = p.region_code
            and y.year = p.year
    left join units_meeting as u
        on
            d.dimension_code = u.dimension_code
            and r.region_code = u.region_code
            and y.year = u.year
    left join {{ ref('int_region_populations_filled') }} as pop
        on
            r.region_code = pop.region_code
            and y.year = pop.year
    where {{ sc_rebuild_filter(changed_measures, 'y.year', 'd.measure_code') }}
)

select
    zone_code,
    dimension_code,
    dimension_no,
    weight,
    measure_code,
    scoring_method,
    -- Kept for the marts' contract: the scale is the same in every year, nothing falls back.
    scoring_method as scoring_method_applied,
    scored_quantity,
    direction,
    region_code,
    region_level,
    year,
    actual_value,
    target_value,
    attainment_pct,
    scored_value,
    goalpost_worst,
    goalpost_best,
    -- The ratio first, so the best goalpost scores exactly 100 (100 x d / d can exceed it).
    -- (DuckDB's greatest() skips nulls: a missing value is tested first.)
    case
        when scored_value is not null
            then least(100.0, greatest(0.0, 100.0 * ((scored_value - goalpost_worst) / (goalpost_best - goalpost_worst))))
    end as dimension_score,
    case
        when scored_value is null then null
        when goalpost_best >= goalpost_worst then least(100.0, greatest(0.0, 100.0 * (scored_value / goalpost_best)))
        when scored_value <= 0 then 100.0
        else least(100.0, greatest(0.0, 100.0 * (goalpost_best / scored_value)))
    end as dimension_score_alt
from joined
{{ sc_stored_in_measure_order() }}
