{#- Generic test: no two rows share the same values in combination_of_columns (a composite key).
    Usage (dbt >= 1.10):
      data_tests:
        - unique_combination:
            arguments:
              combination_of_columns: [measure_code, year] -#}
{% test unique_combination(model, combination_of_columns) %}
    {%- set cols = combination_of_columns | join(', ') -%}
    select {{ cols }}, count(*) as n_rows
    from {{ model }}
    group by {{ cols }}
    having count(*) > 1
{% endtest %}
