{#- The target of every measure x region x year that has a provincial target
    (docs/methodology.md §2). Targets are set for the province:
      - rate, ratio, density, level: every region is held to the provincial target;
      - count, amount: the provincial target is split over the base-level regions by share
        (default: share of resident population; count_target_allocation pins the share of listed
        regions, and the unlisted ones split the remainder by population); a higher region's
        target is the sum of its regions' allocations, the province keeps the target itself;
      - regions_meeting: the province keeps the target; a region at the condition level must meet
        the condition itself (target = condition_threshold); levels in between have no target. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure: a measure's targets depend only on its own spine and the seeds
    (shares are split within measure x year), so only the measures whose spine changed are
    recomputed (macros/scorecard_incremental.sql). -#}

with measures as (
    select * from {{ ref('int_measures_classified') }}
    where is_value_measure and {{ sc_measure_filter('measure_code', changed_measures) }}
),

provincial_targets as (
    select
        measure_code,
        year,
        cast(target_value as double) as target_value,
        target_type
    from {{ ref('indicator_targets') }}
    where
        year between {{ var('first_year') }} and {{ var('last_year') }}
        and {{ sc_measure_filter('measure_code', changed_measures) }}
),

spine as (
    select
        s.measure_code,
        s.region_code,
        s.region_level,
        s.year
    from {{ ref('int_measure_values_reconciled') }} as s
    where {{ sc_measure_filter('s.measure_code', changed_measures) }}
),

seeded_shares as (
    select
        a.measure_code,
        a.region_code,
        cast(a.share as double) as seeded_share
    from {{ ref('count_target_allocation') }} as a
),

-- Allocation shares of the base-level regions of every count / amount measure.
base_regions as (
    select
        m.measure_code,
        s.region_code,
        s.year,
        p.resident_population,
        o.seeded_share
    from measures as m
    inner join spine as s
        on
            m.measure_code = s.measure_code
            and m.base_level = s.region_level
    left join {{ ref('int_region_populations_filled') }} as p
        on
            s.region_code = p.region_code
            and s.year = p.year
    left join seeded_shares as o
        on
            s.measure_code = o.measure_code
            and s.region_code = o.region_code
    where m.measure_kind in ('count', 'amount')
),

base_shares as (
    select
        measure_code,
        region_code,
        year,
        coalesce(
            seeded_share,
            -- Unlisted regions share what the seeded shares leave, by resident population.
            (1 - coalesce({{ exact_sum_over('seeded_share', 'measure_code, year') }}, 0))
            * resident_population
            / nullif(
                {{ exact_sum_over('case when seeded_share is null then resident_population end', 'measure_code, year') }},
                0
            )
        ) as allocation_share,
        case when seeded_share is not null then 'seeded_share' else 'population_share' end as share_basis
    from base_regions
),

-- A higher region's share is the sum of its base-level regions' shares.
region_shares as (
    select
        b.measure_code,
        a.ancestor_code as region_code,
        b.year,
        {{ exact_sum('b.allocation_share') }} as allocation_share,
        case
            when min(b.share_basis) = max(b.share_basis) and a.distance = 0 then min(b.share_basis)
            else 'sum_of_allocations'
        end as share_basis
    from base_shares as b
    inner join {{ ref('int_region_ancestors_flattened') }} as a on b.region_code = a.region_code
    group by b.measure_code, a.ancestor_code, b.year, a.distance
)

select
    s.measure_code,
    s.region_code,
    s.region_level,
    s.year,
    t.target_type,
    t.target_value as provincial_target_value,
    case
        when s.region_level = 'province' then t.target_value
        when m.measure_kind in ('count', 'amount') then t.target_value * sh.allocation_share
        when m.measure_kind = 'regions_meeting' and s.region_level = m.condition_level
            then m.condition_threshold
        when m.measure_kind = 'regions_meeting' then null
        else t.target_value
    end as target_value,
    case
        when s.region_level = 'province' then 'provincial_target'
        when m.measure_kind in ('count', 'amount') then sh.share_basis
        when m.measure_kind = 'regions_meeting' and s.region_level = m.condition_level
            then 'condition_threshold'
        when m.measure_kind = 'regions_meeting' then null
        else 'provincial_target'
    end as target_basis,
    case
        when s.region_level = 'province' and m.measure_kind in ('count', 'amount') then 1.0
        when m.measure_kind in ('count', 'amount') then sh.allocation_share
    end as allocation_share
from spine as s
inner join measures as m on s.measure_code = m.measure_code
inner join provincial_targets as t
    on
        s.measure_code = t.measure_code
        and s.year = t.year
left join region_shares as sh
    on
        s.measure_code = sh.measure_code
        and s.region_code = sh.region_code
        and s.year = sh.year
where
    s.region_level = 'province'
    or m.measure_kind <> 'regions_meeting'
    or s.region_level = m.condition_level
