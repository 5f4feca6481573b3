{#- Generic test: within each group, the column sums to `expected` (within `tolerance`).
    E.g. index weights sum to 1 in every zone.
    Usage:
      columns:
        - name: weight
          data_tests:
            - group_sum_equals:
                arguments:
                  group_by: zone_code
                  expected: 1
                  tolerance: 0.000001 -#}
{% test group_sum_equals(model, column_name, group_by, expected, tolerance=0.000001) %}
    select {{ group_by }}, sum({{ column_name }}) as total
    from {{ model }}
    group by {{ group_by }}
    having abs(sum({{ column_name }}) - {{ expected }}) > {{ tolerance }}
{% endtest %}
