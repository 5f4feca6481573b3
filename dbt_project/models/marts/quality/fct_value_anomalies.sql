{#-
    Anomaly scores of every published year value (质量预警：异常值评分).

    What is screened is what is published: the year value of each measure x region x year
    (int_measure_values_annualised: the latest period of the year, whatever frequency it came
    in), so an annual value submitted beside quarterly ones is compared with the region's earlier
    year values and with every peer's year value. Three scores:
      1. change against the region's previous year value (ratio; points as well for rates);
      2. deviation from the region's own linear trajectory over its earlier year values;
      3. robust z-score, 0.6745 * (x - median) / MAD, against peer regions (same level, measure,
         year); counts and amounts are compared per 10,000 residents.
    A change or trajectory rule that fires is severe at a factor of anomaly_change_ratio_severe
    (x10, x100, 万 vs 个, ‰ vs %, a fraction typed for a percentage) and moderate at
    anomaly_change_moderate; the peer score makes a signalled value severe, and alone is severe
    only at anomaly_z_peer_only (a region far from its peers is otherwise a structural
    difference, not a slip). Every triggered rule is spelled out in reason_zh / reason_en.
    Thresholds are dbt vars (anomaly_*, in dbt_project.yml, documented in docs/quality.md). The
    Soda contract quality/contracts/marts/fct_value_anomalies.contract.yml fails the gate on
    `severe` and warns on `moderate`.
-#}
{%- set z_severe = var('anomaly_z_severe', 6) | float -%}
{%- set z_peer_only = var('anomaly_z_peer_only', 12) | float -%}
{%- set z_moderate = var('anomaly_z_moderate', 3.5) | float -%}
{%- set ratio_severe = var('anomaly_change_ratio_severe', 5) | float -%}
{%- set change_moderate = var('anomaly_change_moderate', 1.5) | float -%}
{%- set points_severe = var('anomaly_points_severe', 80) | float -%}
{%- set points_moderate = var('anomaly_points_moderate', 50) | float -%}
{%- set min_base = var('anomaly_min_base', 10) | float -%}
{%- set min_history = var('anomaly_min_history', 3) | int -%}
{%- set min_peers = var('anomaly_min_peers', 5) | int -%}
{%- set rate_scale_floor = var('anomaly_rate_scale_floor', 2) | float -%}
{%- set rel_scale_floor = var('anomaly_rel_scale_floor', 0.02) | float -%}
{#- A change of fewer than this many counted things (one township of a district with three, two
    organisations in a small county) is never an anomaly, however large it looks as a rate. -#}
{%- set min_units = var('anomaly_min_units', 3) | float -%}
{{ config(
    materialized='incremental',
    incremental_strategy='replace_measures',
    measure_versions_from=['int_measure_values_annualised'],
    measure_period_column='period',
    post_hook="{{ sc_record_measure_versions() }}"
) }}
{%- set changed_measures = sc_measures_to_rebuild() -%}
{#- Incremental per measure and year: only the measures whose year values changed are recomputed,
    from the earliest year they changed (history and peers are per measure; a year is screened
    against its peers of that year and its own earlier years, never a later one; the offsets
    count from the series' first year, which a change from a later year leaves where it was;
    macros/incremental/measure_versions.sql). The rows have no year column: the rebuilt years are
    told by the period text ('2025-12' >= '2025'). -#}

with

staged as (
    select
        v.measure_code,
        v.region_code,
        v.source_period as period,
        v.source_period_kind as period_kind,
        v.year as period_year,
        -- One series of year values per region: the year is the step, whatever the period kind.
        v.year as period_seq,
        cast(v.value as double) as value,
        cast(v.denominator as double) as denominator
    from {{ ref('int_measure_values_annualised') }} as v
    where v.value is not null and {{ sc_measure_filter('v.measure_code', changed_measures) }}
),

periods as (
    select * from staged
),

enriched as (
    select
        p.*,
        r.region_level,
        m.measure_kind,
        -- The step one counted thing makes in the value: value_scale / denominator for rates,
        -- ratios and densities submitted with their parts, 1 for counts, 0 when unknown.
        case
            when p.denominator > 0 and m.value_scale is not null then m.value_scale / p.denominator
            when m.measure_kind = 'count' then 1
            else 0
        end as granularity,
        pop.resident_population,
        -- Peers are compared on a like-for-like basis: stocks of things and money per 10,000
        -- residents, rates / densities / levels / ratios as they are.
        case
            when m.measure_kind in ('count', 'amount') and pop.resident_population > 0
                then p.value / pop.resident_population * 10000
            when m.measure_kind in ('count', 'amount') then null
            else p.value
        end as peer_basis
    from periods as p
    inner join {{ ref('regions') }} as r on p.region_code = r.region_code
    inner join {{ ref('measures') }} as m on p.measure_code = m.measure_code
    left join {{ ref('int_region_populations_filled') }} as pop
        on p.region_code = pop.region_code and p.period_year = pop.year
),

-- The regression on the region's own history uses periods counted from the series' first one,
-- so that its exact sums stay small.
sequenced as (
    select
        e.*,
        e.period_seq - min(e.period_seq) over (
            partition by e.measure_code, e.region_code
        ) as period_offset
    from enriched as e
),

history_sums as (
    select
        e.*,
        lag(e.period) over own_series as previous_period,
        lag(e.value) over own_series as previous_value,
        lag(e.granularity) over own_series as previous_granularity,
        count(e.value) over own_history as history_count,
        -- Exact sums (integers, decimals) for the least-squares fit, so that the fit is the same
        -- on every run whatever the order the rows are added in (regr_slope / regr_intercept
        -- accumulate floats in whatever order the threads deliver them).
        sum(e.period_offset) over own_history as history_sum_x,
        sum(e.period_offset * e.period_offset) over own_history as history_sum_xx,
        cast(sum(cast(e.value as decimal(38, 18))) over own_history as double) as history_sum_y,
        cast(sum(cast(e.value * e.period_offset as decimal(38, 18))) over own_history as double)
            as history_sum_xy
    from sequenced as e
    window
        own_series as (
            partition by e.measure_code, e.region_code order by e.period_seq
        ),
        own_history as (
            partition by e.measure_code, e.region_code order by e.period_seq
            rows between unbounded preceding and 1 preceding
        )
),

-- Least-squares slope (n Σxy - Σx Σy) / (n Σx² - (Σx)²) and intercept (Σy - slope Σx) / n.
history as (
    select
        h.*,
        (h.history_count * h.history_sum_xy - h.history_sum_x * h.history_sum_y)
        / nullif(h.history_count * h.history_sum_xx - h.history_sum_x * h.history_sum_x, 0)
            as history_slope
    from history_sums as h
),

peer_medians as (
    select
        measure_code,
        period_year,
        region_level,
        count(peer_basis) as peer_count,
        median(peer_basis) as peer_median
    from enriched
    group by measure_code, period_year, region_level
),

peer_spread as (
    select
        e.measure_code,
        e.period_year,
        e.region_level,
        median(abs(e.peer_basis - pm.peer_median)) as peer_mad,
        -- An exact mean, the same whatever order the rows come in.
        cast(sum(cast(abs(e.peer_basis - pm.peer_median) as decimal(38, 18))) as double)
        / count(*) as peer_mean_ad
    from enriched as e
    inner join peer_medians as pm
        on
            e.measure_code = pm.measure_code
            and e.period_year = pm.period_year
            and e.region_level = pm.region_level
    where e.peer_basis is not null
    group by e.measure_code, e.period_year, e.region_level
),

scored as (
    select
        h.*,
        pm.peer_count,
        pm.peer_median,
        ps.peer_mad,
        h.measure_kind = 'rate' as is_rate,
        -- A rate's trajectory cannot leave 0-100 %: one at 100 % is where a rising plan ends.
        case
            when h.history_count >= {{ min_history }} and h.measure_kind = 'rate'
                then least(
                    100,
                    greatest(
                        0,
                        (h.history_sum_y - h.history_slope * h.history_sum_x) / h.history_count
                        + h.history_slope * h.period_offset
                    )
                )
            when h.history_count >= {{ min_history }}
                then
                    (h.history_sum_y - h.history_slope * h.history_sum_x) / h.history_count
                    + h.history_slope * h.period_offset
        end as trajectory_expected,
        -- For every kind, rates too: a fraction typed for a percentage (85 -> 0.85) or ‰ for %
        -- is a factor, not a number of points.
        case
            when abs(h.previous_value) >= {{ min_base }}
                then h.value / h.previous_value
        end as change_ratio,
        case when h.measure_kind = 'rate' then h.value - h.previous_value end as change_points,
        -- Robust scale: MAD / 0.6745 (i.e. 1.4826 MAD); when more than half the peers report
        -- the same value (MAD = 0), the mean absolute deviation x 1.2533; never below a floor,
        -- so that near-identical peers do not turn a small difference into an alarm.
        greatest(
            coalesce(nullif(ps.peer_mad, 0) / 0.6745, ps.peer_mean_ad * 1.2533, 0),
            case
                when h.measure_kind = 'rate' then {{ rate_scale_floor }}
                else {{ rel_scale_floor }} * abs(pm.peer_median)
            end
        ) as peer_scale
    from history as h
    inner join peer_medians as pm
        on
            h.measure_code = pm.measure_code
            and h.period_year = pm.period_year
            and h.region_level = pm.region_level
    left join peer_spread as ps
        on
            h.measure_code = ps.measure_code
            and h.period_year = ps.period_year
            and h.region_level = ps.region_level
),

measured as (
    select
        s.*,
        case
            when s.peer_count >= {{ min_peers }} and s.peer_scale > 0 and s.peer_basis is not null
                then (s.peer_basis - s.peer_median) / s.peer_scale
        end as robust_z,
        s.value - s.trajectory_expected as trajectory_deviation,
        coalesce(
            abs(s.value - s.previous_value)
            > {{ min_units }} * greatest(s.granularity, coalesce(s.previous_granularity, 0)),
            false
        ) as material_change,
        coalesce(abs(s.value - s.trajectory_expected) > {{ min_units }} * s.granularity, false)
            as material_deviation,
        -- Far from the peers by more than min_units counted things (a county with 1 pilot where
        -- the others have 0 is not a slip).
        case
            when s.measure_kind = 'count' and s.resident_population > 0
                then abs(s.value - s.peer_median * s.resident_population / 10000) > {{ min_units }}
            when s.granularity > 0 then abs(s.peer_basis - s.peer_median) > {{ min_units }} * s.granularity
            else true
        end as material_peer_distance,
        case
            when abs(s.trajectory_expected) >= {{ min_base }}
                then s.value / s.trajectory_expected
        end as trajectory_ratio
    from scored as s
),

-- A factor of ratio_severe either way (x10, x100, 万 vs 个, ‰ vs %, a fraction for a percentage).
factored as (
    select
        m.*,
        coalesce(
            m.change_ratio >= {{ ratio_severe }} or m.change_ratio <= 1.0 / {{ ratio_severe }}, false
        ) as change_is_factor,
        coalesce(
            m.trajectory_ratio >= {{ ratio_severe }} or m.trajectory_ratio <= 1.0 / {{ ratio_severe }}, false
        ) as trajectory_is_factor
    from measured as m
),

-- Rates move in points (a plan from 30 % to 70 % is +40 points, not an anomaly); other kinds by
-- ratio.
signalled as (
    select
        m.*,
        m.material_change and (
            m.change_is_factor
            or coalesce(not m.is_rate and abs(m.change_ratio - 1) >= {{ change_moderate }}, false)
            or coalesce(abs(m.change_points) >= {{ points_moderate }}, false)
        ) as change_signal,
        m.material_deviation and (
            m.trajectory_is_factor
            or coalesce(not m.is_rate and abs(m.trajectory_ratio - 1) >= {{ change_moderate }}, false)
            or coalesce(m.is_rate and abs(m.trajectory_deviation) >= {{ points_moderate }}, false)
        ) as trajectory_signal
    from factored as m
),

rules as (
    select
        m.*,
        -- change against the previous year value
        case
            when not m.change_signal then null
            when m.change_is_factor then 'severe'
            when abs(m.change_points) >= {{ points_severe }} then 'severe'
            else 'moderate'
        end as change_level,
        -- deviation from the region's own trajectory
        case
            when not m.trajectory_signal then null
            when m.trajectory_is_factor then 'severe'
            when m.is_rate and abs(m.trajectory_deviation) >= {{ points_severe }} then 'severe'
            else 'moderate'
        end as trajectory_level,
        -- distance from the peers: with a change or trajectory signal, severe from z_severe and
        -- moderate from z_moderate; alone (a region that has always been far from its peers is a
        -- structural difference) only a distance of z_peer_only, as far as a unit slip puts a
        -- value, flags it, severe
        case
            when not coalesce(m.material_peer_distance, false) then null
            when abs(m.robust_z) >= {{ z_peer_only }} then 'severe'
            when abs(m.robust_z) >= {{ z_severe }} and (m.change_signal or m.trajectory_signal) then 'severe'
            when abs(m.robust_z) >= {{ z_moderate }} and (m.change_signal or m.trajectory_signal) then 'moderate'
        end as peer_level
    from signalled as m
),

explained as (
    select
        r.*,
        case
            when 'severe' in (r.change_level, r.trajectory_level, r.peer_level) then 'severe'
            when 'moderate' in (r.change_level, r.trajectory_level, r.peer_level) then 'moderate'
            else 'none'
        end as severity,
        concat_ws(
            '; ',
            case
                when r.change_level is not null and r.change_ratio is not null and not r.is_rate
                    then printf(
                        '%s: %.6g is %.2fx the previous year (%s: %.6g)',
                        r.change_level, r.value, r.change_ratio, r.previous_period, r.previous_value
                    )
                when r.change_level is not null
                    then printf(
                        '%s: %.6g is %+.1f points (%sx) against the previous year (%s: %.6g)',
                        r.change_level, r.value, r.change_points,
                        coalesce(printf('%.2f', r.change_ratio), '-'), r.previous_period, r.previous_value
                    )
            end,
            case
                when r.trajectory_level is not null
                    then printf(
                        '%s: %.6g is off its own trajectory (expected %.6g from %d earlier years)',
                        r.trajectory_level, r.value, r.trajectory_expected, r.history_count
                    )
            end,
            case
                when r.peer_level is not null
                    then printf(
                        '%s: robust z = %.1f against %d %s peers (median %.6g%s)',
                        r.peer_level, r.robust_z, r.peer_count, r.region_level, r.peer_median,
                        case when r.measure_kind in ('count', 'amount') then ' per 10k residents' else '' end
                    )
            end
        ) as reason_en,
        concat_ws(
            '；',
            case
                when r.change_level is not null and r.change_ratio is not null and not r.is_rate
                    then printf(
                        '%s：%.6g 为上年（%s：%.6g）的 %.2f 倍',
                        case r.change_level when 'severe' then '严重' else '中度' end,
                        r.value, r.previous_period, r.previous_value, r.change_ratio
                    )
                when r.change_level is not null
                    then printf(
                        '%s：%.6g 较上年（%s：%.6g）变动 %+.1f 个百分点',
                        case r.change_level when 'severe' then '严重' else '中度' end,
                        r.value, r.previous_period, r.previous_value, r.change_points
                    )
            end,
            case
                when r.trajectory_level is not null
                    then printf(
                        '%s：%.6g 偏离自身历史趋势（按此前 %d 年推算应为 %.6g）',
                        case r.trajectory_level when 'severe' then '严重' else '中度' end,
                        r.value, r.history_count, r.trajectory_expected
                    )
            end,
            case
                when r.peer_level is not null
                    then printf(
                        '%s：与 %d 个同级地区相比稳健Z值为 %.1f（中位数 %.6g%s）',
                        case r.peer_level when 'severe' then '严重' else '中度' end,
                        r.peer_count, r.robust_z, r.peer_median,
                        case when r.measure_kind in ('count', 'amount') then '，按每万常住人口' else '' end
                    )
            end
        ) as reason_zh
    from rules as r
)

select
    md5(concat_ws('|', measure_code, region_code, period)) as anomaly_id,
    measure_code,
    measure_kind,
    region_code,
    region_level,
    period,
    period_kind,
    value,
    previous_period,
    previous_value,
    change_ratio,
    change_points,
    history_count,
    trajectory_expected,
    trajectory_deviation,
    peer_count,
    peer_median,
    peer_scale,
    robust_z,
    change_level,
    trajectory_level,
    peer_level,
    severity,
    nullif(reason_zh, '') as reason_zh,
    nullif(reason_en, '') as reason_en
from explained
where {{ sc_rebuild_filter(changed_measures, period_column='period') }}
{{ sc_stored_in_measure_order('period') }}
