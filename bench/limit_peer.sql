-- The limit peer (issue #22): fct_indicator_progress's annualised values, roll-ups, targets,
-- attainment and year status computed by hand in one DuckDB process, straight from the raw layer
-- (wh.raw.submissions) and the seed CSV files. Not part of the product: it measures what the
-- hardware can do with the same data, so a build can be reported as a multiple of it.
-- bench/limit_peer.py fills in ${seeds}, ${first_year}, ${last_year}, ${as_of}, ${tolerance}.
-- Left out on purpose: the trajectory columns (trend, projection, progress_status) and the
-- lineage columns (source file, row); tests/bench/test_limit_peer.py compares the rest.

create temp table seed_measures as
select * from read_csv('${seeds}/measures.csv', header = true, all_varchar = true);

create temp table seed_regions as
select region_code, region_level, parent_code
from read_csv('${seeds}/regions.csv', header = true, all_varchar = true);

create temp table region_ranks as
select
    region_code,
    region_level,
    parent_code,
    case region_level when 'county' then 1 when 'city' then 2 when 'province' then 3 end as level_rank
from seed_regions;

create temp table programme_years as
select range::integer as year from range(${first_year}, ${last_year} + 1);

create temp table provincial_targets as
select measure_code, cast(year as integer) as year, cast(target_value as double) as target_value, target_type
from read_csv('${seeds}/indicator_targets.csv', header = true, all_varchar = true)
where cast(year as integer) between ${first_year} and ${last_year};

-- One row per value measure with its roll-up base level.
create temp table value_measures as
select
    measure_code,
    indicator_code,
    zone_code,
    unit,
    measure_kind,
    direction,
    rollup_rule,
    cast(value_scale as double) as value_scale,
    population_base,
    cast(condition_threshold as double) as condition_threshold,
    condition_level,
    region_levels,
    case
        when '|' || region_levels || '|' like '%|county|%' then 'county'
        when '|' || region_levels || '|' like '%|city|%' then 'city'
        else 'province'
    end as base_level,
    case condition_level when 'county' then 1 when 'city' then 2 when 'province' then 3 end
        as condition_rank
from seed_measures
where submitted_via = 'values' and measure_kind <> 'milestone';

-- Each region with itself and every region above it (the list has three levels).
create temp table ancestry as
select r.region_code, r.level_rank, r.region_code as ancestor_code, r.region_level as ancestor_level,
       r.level_rank as ancestor_rank
from region_ranks as r
union all
select r.region_code, r.level_rank, p.region_code, p.region_level, p.level_rank
from region_ranks as r
join region_ranks as p on r.parent_code = p.region_code
union all
select r.region_code, r.level_rank, g.region_code, g.region_level, g.level_rank
from region_ranks as r
join region_ranks as p on r.parent_code = p.region_code
join region_ranks as g on p.parent_code = g.region_code;

-- Population per region and programme year: the same year, else the latest earlier, else the
-- earliest later census year.
create temp table population as
select region_code, year, resident_population, elderly_population
from (
    select
        p.region_code,
        y.year,
        cast(p.resident_population as double) as resident_population,
        cast(p.elderly_population as double) as elderly_population,
        row_number() over (
            partition by p.region_code, y.year
            order by case when cast(p.year as integer) <= y.year then 0 else 1 end,
                     abs(y.year - cast(p.year as integer))
        ) as nearest
    from read_csv('${seeds}/region_population.csv', header = true, all_varchar = true) as p
    join seed_regions as r on p.region_code = r.region_code
    cross join programme_years as y
)
where nearest = 1;

-- The value in force per measure x region x period (the latest file), plausible values only,
-- then the year's value: the latest period within the year, an annual value before a Q4 or
-- December one ending the same day.
create temp table year_values as
with typed as (
    select
        s.measure_code,
        s.region_code,
        s.period,
        s.file_id,
        s.loaded_at,
        cast(substr(s.period, 1, 4) as integer) as year,
        case when length(s.period) = 4 then 1 when substr(s.period, 6, 1) = 'Q' then 2 else 3 end as grain,
        case
            when length(s.period) = 4 then make_date(cast(substr(s.period, 1, 4) as integer), 12, 31)
            when substr(s.period, 6, 1) = 'Q'
                then last_day(make_date(cast(substr(s.period, 1, 4) as integer), 3 * cast(substr(s.period, 7, 1) as integer), 1))
            else last_day(make_date(cast(substr(s.period, 1, 4) as integer), cast(substr(s.period, 6, 2) as integer), 1))
        end as period_end,
        case when isfinite(s.value) and abs(s.value) <= 1e15 then s.value end as value,
        case when isfinite(s.numerator) and abs(s.numerator) <= 1e12 then s.numerator end as numerator,
        case when isfinite(s.denominator) and abs(s.denominator) <= 1e12 then s.denominator end as denominator,
        (s.numerator is not null and not (isfinite(s.numerator) and abs(s.numerator) <= 1e12))
        or (s.denominator is not null and not (isfinite(s.denominator) and abs(s.denominator) <= 1e12)) as unsafe
    from wh.raw.submissions as s
),

plausible as (
    select t.*
    from typed as t
    left join read_csv('${seeds}/measure_value_ranges.csv', header = true, all_varchar = true) as g
        on t.measure_code = g.measure_code
    where
        t.value between coalesce(cast(g.min_value as double), 0) and coalesce(cast(g.max_value as double), 1e12)
        and not t.unsafe
),

in_force as (
    select * from plausible
    qualify row_number() over (partition by measure_code, region_code, period order by file_id desc, loaded_at desc) = 1
),

year_end as (
    select * from in_force
    where year between ${first_year} and ${last_year}
    qualify row_number() over (partition by measure_code, region_code, year order by period_end desc, grain) = 1
),

parts as (
    select
        y.measure_code,
        y.region_code,
        r.region_level,
        y.year,
        y.period as source_period,
        y.period_end,
        y.value as submitted_value,
        y.numerator as submitted_numerator,
        m.measure_kind,
        m.value_scale,
        case
            when m.measure_kind = 'density'
                then coalesce(y.denominator, case m.population_base when 'elderly' then p.elderly_population when 'resident' then p.resident_population end)
            when m.measure_kind in ('rate', 'ratio') then y.denominator
        end as denominator
    from year_end as y
    join value_measures as m on y.measure_code = m.measure_code
    join region_ranks as r on y.region_code = r.region_code
    left join population as p on y.region_code = p.region_code and y.year = p.year
),

with_numerator as (
    select
        *,
        case
            when measure_kind in ('rate', 'ratio') and denominator is not null then submitted_numerator
            when measure_kind = 'density' and submitted_numerator is not null then submitted_numerator
            when measure_kind = 'density' and denominator is not null then submitted_value * denominator / value_scale
        end as numerator
    from parts
)

select
    measure_code, region_code, region_level, year, source_period, period_end, submitted_value,
    numerator, denominator,
    numerator is not null and denominator is not null and denominator > 0 as has_parts,
    case
        when numerator is not null and denominator > 0 and submitted_numerator is not null
            then numerator / denominator * value_scale
        else submitted_value
    end as value
from with_numerator;

-- Roll-ups from the base level to every region above it (count_meeting: up to the condition
-- level), sums exact as DECIMAL so they do not depend on the order of addition.
create temp table rolled_from_base as
with expected as (
    select m.measure_code, a.ancestor_code, a.ancestor_level, count(*) as children_expected
    from value_measures as m
    join region_ranks as b on b.region_level = m.base_level
    join ancestry as a on a.region_code = b.region_code and a.ancestor_rank > a.level_rank
    where m.rollup_rule <> 'none' and (m.rollup_rule <> 'count_meeting' or a.ancestor_rank <= m.condition_rank)
    group by all
)

select
    e.measure_code,
    e.ancestor_code as region_code,
    e.ancestor_level as region_level,
    y.year,
    any_value(m.base_level) as children_level,
    any_value(e.children_expected) as children_expected,
    count(case when m.rollup_rule = 'ratio_of_sums' then case when v.has_parts then 1 end when v.value is not null then 1 end)
        as children_reporting,
    cast(sum(cast(case when v.has_parts then v.numerator end as decimal(38, 18))) as double) as num,
    cast(sum(cast(case when v.has_parts then v.denominator end as decimal(38, 18))) as double) as den,
    cast(sum(cast(v.value as decimal(38, 18))) as double) as value_sum,
    count(v.value) as value_count,
    min(v.value) as value_min,
    min(case when v.value is not null then v.period_end end) as children_period_end,
    any_value(m.rollup_rule) as rollup_rule,
    any_value(m.value_scale) as value_scale
from expected as e
join value_measures as m on e.measure_code = m.measure_code
cross join programme_years as y
join ancestry as a on a.ancestor_code = e.ancestor_code and a.level_rank = (
    case m.base_level when 'county' then 1 when 'city' then 2 when 'province' then 3 end)
left join year_values as v on v.measure_code = e.measure_code and v.region_code = a.region_code and v.year = y.year
group by e.measure_code, e.ancestor_code, e.ancestor_level, y.year;

create temp table rolled_up as
select
    measure_code, region_code, region_level, year, children_level, children_expected, children_reporting,
    num as rolled_up_numerator,
    den as rolled_up_denominator,
    case rollup_rule
        when 'sum' then value_sum
        when 'count_meeting' then value_sum
        when 'mean_with_min' then value_sum / value_count
        when 'ratio_of_sums' then num / nullif(den, 0) * value_scale
    end as rolled_up_value,
    case when rollup_rule = 'mean_with_min' then value_min end as rolled_up_min_value,
    children_period_end
from rolled_from_base
where children_reporting > 0

union all

-- count_meeting above the condition level: how many condition-level regions meet the threshold.
select
    c.measure_code,
    a.ancestor_code,
    a.ancestor_level,
    c.year,
    any_value(c.region_level),
    count(*),
    count(c.underlying),
    null,
    null,
    cast(count(case when c.underlying >= c.condition_threshold then 1 end) as double),
    null,
    min(c.underlying_end)
from (
    select
        m.measure_code, m.condition_threshold, r.region_code, r.region_level, r.level_rank, y.year,
        coalesce(d.value, b.value_sum) as underlying,
        case when d.value is not null then d.period_end else b.children_period_end end as underlying_end
    from value_measures as m
    join region_ranks as r on r.region_level = m.condition_level
    cross join programme_years as y
    left join year_values as d on d.measure_code = m.measure_code and d.region_code = r.region_code and d.year = y.year
    left join rolled_from_base as b on b.measure_code = m.measure_code and b.region_code = r.region_code and b.year = y.year
    where m.rollup_rule = 'count_meeting'
) as c
join ancestry as a on a.region_code = c.region_code and a.ancestor_rank > c.level_rank
group by c.measure_code, a.ancestor_code, a.ancestor_level, c.year
having count(c.underlying) > 0;

-- The spine: every value measure x applicable region x programme year, with its value.
create temp table spine as
select
    m.measure_code,
    r.region_code,
    r.region_level,
    y.year,
    v.source_period,
    v.value as submitted_value,
    u.rolled_up_value,
    u.rolled_up_min_value,
    u.children_level,
    u.children_expected,
    u.children_reporting,
    coalesce(v.value, u.rolled_up_value) as actual_value,
    case when v.value is not null then v.numerator else u.rolled_up_numerator end as actual_numerator,
    case when v.value is not null then v.denominator else u.rolled_up_denominator end as actual_denominator,
    case when v.value is not null then 'submitted' when u.rolled_up_value is not null then 'rolled_up' end
        as value_source,
    case when v.value is not null then v.period_end when u.rolled_up_value is not null then u.children_period_end end
        as value_period_end,
    case when v.value is not null then true when u.rolled_up_value is not null then u.children_reporting >= u.children_expected end
        as is_complete
from value_measures as m
join region_ranks as r
    on (m.rollup_rule <> 'none' and r.level_rank >= case m.base_level when 'county' then 1 when 'city' then 2 else 3 end)
    or (m.rollup_rule = 'none' and '|' || m.region_levels || '|' like '%|' || r.region_level || '|%')
cross join programme_years as y
left join year_values as v on v.measure_code = m.measure_code and v.region_code = r.region_code and v.year = y.year
left join rolled_up as u on u.measure_code = m.measure_code and u.region_code = r.region_code and u.year = y.year;

-- Targets where the list sets them (seeds/target_scope.csv); no target is split by population.
create temp table targets as
with scoped as (
    select
        s.measure_code,
        s.region_code,
        s.year,
        t.target_type,
        coalesce(sc.target_scope, 'every_level') as target_scope,
        case
            when al.target_value is not null then 'allocated'
            when s.region_level = 'province' then 'provincial_target'
            when coalesce(sc.target_scope, 'every_level') = 'every_level' then 'provincial_target'
            when sc.target_scope in ('region_floor', 'regions_meeting_count') and s.region_level = sc.held_level
                and t.target_value >= cast(sc.region_target as double) * n.region_count then 'region_floor'
            when sc.target_scope = 'regions_meeting_share' and t.target_value >= 100 then 'every_region_meets'
        end as target_basis,
        t.target_value as provincial_target,
        cast(al.target_value as double) as allocated_target,
        cast(sc.region_target as double) as region_target
    from spine as s
    join provincial_targets as t on s.measure_code = t.measure_code and s.year = t.year
    left join read_csv('${seeds}/target_scope.csv', header = true, all_varchar = true) as sc
        on s.measure_code = sc.measure_code
    left join (select region_level, count(*) as region_count from seed_regions group by all) as n
        on sc.held_level = n.region_level
    left join read_csv('${seeds}/target_allocations.csv', header = true, all_varchar = true) as al
        on s.measure_code = al.measure_code and s.region_code = al.region_code and s.year = cast(al.year as integer)
)

select
    measure_code, region_code, year, target_type, target_scope, target_basis,
    case target_basis
        when 'allocated' then allocated_target
        when 'provincial_target' then provincial_target
        when 'region_floor' then region_target
        when 'every_region_meets' then 100.0
    end as target_value
from scoped
where target_basis is not null;

-- Plan value at the value's date, attainment (direction-aware), the verdict and the year status.
create temp table peer_indicator_progress as
with planned as (
    select
        s.*,
        m.indicator_code,
        m.zone_code,
        m.measure_kind,
        m.direction,
        m.unit,
        t.target_value,
        t.target_type,
        t.target_basis,
        t.target_scope,
        s.value_period_end < make_date(s.year, 12, 31) as is_part_year,
        case
            when t.target_value is null then null
            when not coalesce(s.value_period_end < make_date(s.year, 12, 31), false) or prev.target_value is null
                then t.target_value
            else prev.target_value + (t.target_value - prev.target_value)
                * date_diff('day', make_date(s.year - 1, 12, 31), s.value_period_end)
                / date_diff('day', make_date(s.year - 1, 12, 31), make_date(s.year, 12, 31))
        end as plan_value,
        date '${as_of}' > make_date(s.year, 12, 31) as is_year_over
    from spine as s
    join value_measures as m on s.measure_code = m.measure_code
    left join targets as t on s.measure_code = t.measure_code and s.region_code = t.region_code and s.year = t.year
    left join targets as prev
        on s.measure_code = prev.measure_code and s.region_code = prev.region_code and s.year - 1 = prev.year
),

assessed as (
    select
        *,
        case
            when actual_value is null or plan_value is null then null
            when actual_value < 0 or plan_value < 0 then null
            when direction = 'lower_is_better' and actual_value = 0 and plan_value = 0 then 100.0
            when direction = 'lower_is_better' and actual_value = 0 then null
            when direction = 'lower_is_better' then 100.0 * plan_value / actual_value
            when plan_value = 0 then 100.0
            else 100.0 * actual_value / plan_value
        end as attainment_pct,
        case
            when actual_value is null or plan_value is null then null
            when direction = 'lower_is_better' then actual_value <= plan_value + ${tolerance} * abs(plan_value)
            else actual_value >= plan_value - ${tolerance} * abs(plan_value)
        end as is_target_met
    from planned
)

select
    measure_code,
    indicator_code,
    zone_code,
    region_code,
    region_level,
    cast(year as varchar) as period,
    year,
    measure_kind,
    direction,
    unit,
    actual_value,
    value_source,
    source_period,
    submitted_value,
    rolled_up_value,
    rolled_up_min_value,
    actual_numerator,
    actual_denominator,
    children_level,
    children_expected,
    children_reporting,
    target_value,
    target_type,
    target_basis,
    target_scope,
    plan_value,
    value_period_end,
    coalesce(is_complete, true) as is_complete,
    attainment_pct,
    is_target_met,
    case
        when target_value is null then 'no_target'
        when actual_value is null then 'no_data'
        when not coalesce(is_complete, true) then 'incomplete'
        when is_year_over and is_part_year then 'incomplete'
        when is_target_met then 'met'
        else 'not_met'
    end as year_status,
    is_year_over,
    case when is_year_over then 'final' else 'provisional' end as status_basis
from assessed;
