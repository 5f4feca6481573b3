{#- Generic test: a model's not-null columns, accepted values and row expressions, in one query
    (one dbt node). The same rules as dbt's not_null, accepted_values and the project's
    expression_is_true tests (macros/test_expression_is_true.sql), one node each, would each cost
    dbt's per-node overhead (~40-50 ms of compiling, events and bookkeeping, against a query of a
    few ms; bench/notes.md, issue #22); here they are one scan of the model.
    Usage:
      data_tests:
        - column_rules:
            name: column_rules_<model>
            arguments:
              not_null: [file_id, received_at]
              accepted_values:
                - {column: file_status, values: [loaded, rejected]}
                - {column: level_rank, values: [1, 2, 3], quote: false}
              expressions:
                - rank_p05 <= rank_median
    A failing row per broken rule: rule ("not_null" / "accepted_values" / "expression"),
    column_name (the expression, for an expression), and failing_rows (rows with a null; for
    accepted values, rows with a value outside the list, as dbt's accepted_values test counts
    them: a null is not outside the list; for an expression, rows where it is false or null, as
    expression_is_true counts them). A rule with a where config, tags or another severity is not
    folded into a model's test; rules sharing such a config may be a column_rules test with it. -#}
{% test column_rules(model, not_null=[], accepted_values=[], expressions=[]) %}
    {%- set counts = [] -%}
    {%- for column in not_null -%}
        {%- do counts.append(("not_null", column, "count_if(" ~ column ~ " is null)")) -%}
    {%- endfor -%}
    {%- for rule in accepted_values -%}
        {%- set quote = rule.get("quote", true) -%}
        {%- set values = [] -%}
        {%- for value in rule["values"] -%}
            {%- do values.append(("'" ~ value ~ "'") if quote else (value | string)) -%}
        {%- endfor -%}
        {%- do counts.append((
            "accepted_values", rule["column"],
            "count_if(" ~ rule["column"] ~ " not in (" ~ values | join(", ") ~ "))"
        )) -%}
    {%- endfor -%}
    {%- for expression in expressions -%}
        {%- do counts.append(("expression", expression, "count_if(not coalesce((" ~ expression ~ "), false))")) -%}
    {%- endfor -%}
    with counted as materialized (
        select
        {%- for rule, column, expression in counts %}
            {{ expression }} as rule_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ model }}
    )
    {%- for rule, column, expression in counts %}
    select '{{ rule }}' as rule, '{{ column | replace("'", "''") }}' as column_name, rule_{{ loop.index }} as failing_rows
    from counted where rule_{{ loop.index }} > 0
    {{ "union all" if not loop.last }}
    {%- endfor %}
{% endtest %}
