{#- A number from raw, cast so that no loaded value can fail a build: text that is not a number,
    NaN, infinities and anything beyond +/- `bound` (default 1e15, far inside DECIMAL(38,18) and
    exact doubles) become null instead of an error. Plausible ranges per measure are applied on top
    (seed measure_value_ranges, stg_raw__submissions). -#}
{% macro sc_safe_double(expression, bound=1e15) -%}
    case
        when
            isfinite(try_cast({{ expression }} as double))
            and abs(try_cast({{ expression }} as double)) <= {{ bound }}
            then try_cast({{ expression }} as double)
    end
{%- endmacro %}
