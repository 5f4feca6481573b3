{#- Direction-aware comparison of a value with its target (docs/methodology.md §2). -#}

{#- attainment_pct: 100 means the target is met exactly.
    higher_is_better: 100 x actual / target; lower_is_better: 100 x target / actual.
    Zero cases: a target of 0 to exceed (higher_is_better) is met by any actual >= 0 and scores
    100; an actual of 0 under a lower_is_better target is at the best possible value and scores
    100 as well when the target is 0, and is left null (no finite ratio) otherwise. Negative
    inputs have no meaningful ratio and give null. -#}
{% macro attainment_pct(actual, target, direction) -%}
    case
        when {{ actual }} is null or {{ target }} is null then null
        when {{ actual }} < 0 or {{ target }} < 0 then null
        when {{ direction }} = 'lower_is_better' and {{ actual }} = 0 and {{ target }} = 0 then 100.0
        when {{ direction }} = 'lower_is_better' and {{ actual }} = 0 then null
        when {{ direction }} = 'lower_is_better' then 100.0 * {{ target }} / {{ actual }}
        when {{ target }} = 0 then 100.0
        else 100.0 * {{ actual }} / {{ target }}
    end
{%- endmacro %}

{#- True when the target is met, with a relative tolerance (var target_tolerance) so that a rate
    computed as 70 / 100 x 100 = 70.00000000000001 counts as meeting a target of 70. -#}
{% macro target_is_met(actual, target, direction) -%}
    {%- set tolerance = var('target_tolerance') | float -%}
    case
        when {{ actual }} is null or {{ target }} is null then null
        when {{ direction }} = 'lower_is_better'
            then {{ actual }} <= {{ target }} + {{ tolerance }} * abs({{ target }})
        else {{ actual }} >= {{ target }} - {{ tolerance }} * abs({{ target }})
    end
{%- endmacro %}

{#- progress toward the end-of-plan target from a projected value (docs/methodology.md §4). -#}
{% macro progress_status(projected, target, direction) -%}
    case
        when {{ projected }} is null or {{ target }} is null then null
        when {{ target_is_met(projected, target, direction) }} then 'on_track'
        when {{ attainment_pct(projected, target, direction) }} >= {{ var('progress_on_track_pct') }} then 'on_track'
        when {{ attainment_pct(projected, target, direction) }} >= {{ var('progress_at_risk_pct') }} then 'at_risk'
        else 'off_track'
    end
{%- endmacro %}

{#- Region levels in order: county 1, city 2, province 3. -#}
{% macro region_level_rank(level) -%}
    case {{ level }} when 'county' then 1 when 'city' then 2 when 'province' then 3 end
{%- endmacro %}

{#- A sum that does not depend on the order rows are added in: floating-point addition is not
    associative and the database may add a group's rows in any order (parallel aggregation), so
    rebuilding would change the last bits of a roll-up. Summing as DECIMAL(38, 18) is exact for
    the magnitudes here (< 10^20), hence the same on every run; the result is a double again. -#}
{% macro exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as decimal(38, 18))) as double)
{%- endmacro %}

{#- exact_sum as a window: the same exact sum over a partition. -#}
{% macro exact_sum_over(expression, partition_by) -%}
    cast(sum(cast({{ expression }} as decimal(38, 18))) over (partition by {{ partition_by }}) as double)
{%- endmacro %}
