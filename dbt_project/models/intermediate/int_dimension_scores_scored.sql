{#- 0-100 score of every index dimension for every region and programme year
    (docs/methodology.md §5):
      distance_to_target  min(100, max(0, attainment_pct)) where the region has a target that
                          year (100 when a lower-is-better target is met at zero);
      goalposts           100 x (x - min) / (max - min) across the regions of the same level in
                          the same year (inverted for lower_is_better; 100 for all when max = min).
    A distance_to_target dimension falls back to goalposts where the region has no target that
    year. A region without a value for the dimension's measure has no score (null): the index
    reweights the dimensions that remain. -#}
with dimensions as (
    select
        zone_code,
        dimension_code,
        cast(dimension_no as integer) as dimension_no,
        cast(weight as double) as weight,
        measure_code,
        scoring_method
    from {{ ref('index_dimensions') }}
),

years as (
    {{ programme_years() }}
),

joined as (
    select
        d.zone_code,
        d.dimension_code,
        d.dimension_no,
        d.weight,
        d.measure_code,
        d.scoring_method,
        m.direction,
        r.region_code,
        r.region_level,
        y.year,
        p.actual_value,
        p.target_value,
        p.attainment_pct,
        p.is_target_met,
        case
            when d.scoring_method = 'distance_to_target' and p.target_value is not null
                then 'distance_to_target'
            else 'goalposts'
        end as scoring_method_applied
    from dimensions as d
    inner join {{ ref('int_measures_classified') }} as m on d.measure_code = m.measure_code
    cross join {{ ref('regions') }} as r
    cross join years as y
    left join {{ ref('int_indicator_progress_assessed') }} as p
        on
            d.measure_code = p.measure_code
            and r.region_code = p.region_code
            and y.year = p.year
),

goalposts as (
    select
        *,
        min(actual_value) over (partition by dimension_code, region_level, year) as goalpost_min,
        max(actual_value) over (partition by dimension_code, region_level, year) as goalpost_max
    from joined
)

select
    zone_code,
    dimension_code,
    dimension_no,
    weight,
    measure_code,
    scoring_method,
    scoring_method_applied,
    direction,
    region_code,
    region_level,
    year,
    actual_value,
    target_value,
    attainment_pct,
    goalpost_min,
    goalpost_max,
    case
        when scoring_method_applied = 'distance_to_target' and attainment_pct is not null
            then least(100.0, greatest(0.0, attainment_pct))
        when scoring_method_applied = 'distance_to_target' and is_target_met then 100.0
        when scoring_method_applied = 'distance_to_target' then null
        when actual_value is null then null
        when goalpost_max = goalpost_min then 100.0
        when direction = 'lower_is_better'
            then 100.0 * ((goalpost_max - actual_value) / (goalpost_max - goalpost_min))
        -- The ratio first, so the best region scores exactly 100 (100 x d / d can exceed it).
        else 100.0 * ((actual_value - goalpost_min) / (goalpost_max - goalpost_min))
    end as dimension_score
from goalposts
