{#- Generic test: every row satisfies a SQL boolean expression (rows where it is false or null fail).
    Usage:
      data_tests:
        - expression_is_true:
            arguments:
              expression: "year between 2021 and 2025"
    Declared on a column, the expression is still a complete condition (column_name is not prepended). -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
