{#- The target of every measure x region x year that has a provincial target, applied only where
    the list sets it (seeds/target_scope.csv, docs/methodology.md §3):
      every_level            every region is held to the provincial target (rates, ratios,
                             densities, levels);
      province_only          the province only (a provincial total: no region has a number of
                             its own);
      region_floor           the province to its total; every region at held_level to the floor
                             (region_target, e.g. 2 smart nursing homes per county) in a year whose
                             provincial total is at least the floor for every such region;
      regions_meeting_count  the province counts the regions at held_level meeting the condition;
                             a region is held to region_target only in a year whose target covers
                             every region (PP05: 11 of 11 cities in 2024-2025);
      regions_meeting_share  the province takes the share of regions meeting it; in a year whose
                             target is 100 % every region is held to 100 %.
    No target is ever split by population. A row of seeds/target_allocations.csv (empty by
    default) is a target the province really allocated, used as given. Regions without a target
    of their own get no row (target_value null, year_status no_target downstream). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_reconciled'],
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() %}
{#- Incremental per measure and year: a measure's targets of a year depend only on its own spine
    of that year and the seeds, so only the measures and years whose spine changed are recomputed
    (macros/incremental/measure_versions.sql). -#}

with measures as (
    select * from {{ ref('int_measures_classified') }}
    where is_value_measure and {{ sc_measure_filter('measure_code', changed_measures) }}
),

scopes as (
    select
        measure_code,
        target_scope,
        held_level,
        cast(region_target as double) as region_target
    from {{ ref('target_scope') }}
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

allocations as (
    select
        measure_code,
        region_code,
        cast(year as integer) as year,
        cast(target_value as double) as target_value
    from {{ ref('target_allocations') }}
),

regions_per_level as (
    select
        region_level,
        count(*) as region_count
    from {{ ref('regions') }}
    group by region_level
),

spine as (
    select
        s.measure_code,
        s.region_code,
        s.region_level,
        s.year
    from {{ ref('int_measure_values_reconciled') }} as s
    where {{ sc_rebuild_filter(changed_measures, 's.year', 's.measure_code') }}
),

scoped as (
    select
        s.measure_code,
        s.region_code,
        s.region_level,
        s.year,
        t.target_type,
        t.target_value as provincial_target_value,
        coalesce(sc.target_scope, 'every_level') as target_scope,
        a.target_value as allocated_target_value,
        case
            when a.target_value is not null then 'allocated'
            when s.region_level = 'province' then 'provincial_target'
            when coalesce(sc.target_scope, 'every_level') = 'every_level' then 'provincial_target'
            when
                sc.target_scope in ('region_floor', 'regions_meeting_count')
                and s.region_level = sc.held_level
                and t.target_value >= sc.region_target * n.region_count
                then 'region_floor'
            when sc.target_scope = 'regions_meeting_share' and t.target_value >= 100
                then 'every_region_meets'
        end as target_basis,
        sc.region_target
    from spine as s
    inner join measures as m on s.measure_code = m.measure_code
    inner join provincial_targets as t
        on
            s.measure_code = t.measure_code
            and s.year = t.year
    left join scopes as sc on s.measure_code = sc.measure_code
    left join regions_per_level as n on sc.held_level = n.region_level
    left join allocations as a
        on
            s.measure_code = a.measure_code
            and s.region_code = a.region_code
            and s.year = a.year
)

select
    measure_code,
    region_code,
    region_level,
    year,
    target_type,
    target_scope,
    provincial_target_value,
    case target_basis
        when 'allocated' then allocated_target_value
        when 'provincial_target' then provincial_target_value
        when 'region_floor' then region_target
        when 'every_region_meets' then 100.0
    end as target_value,
    target_basis
from scoped
where target_basis is not null
{{ sc_stored_in_measure_order() }}
