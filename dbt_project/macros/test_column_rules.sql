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
              unique_key: [measure_code, region_code, year]
              relationships:
                - {column: region_code, to: "ref('dim_region')", field: region_code}
    A failing row per broken rule: rule ("not_null" / "accepted_values" / "expression" /
    "unique_key" / "relationships"), column_name (the expression, for an expression; the key's
    columns, for the key; "column -> dimension.field", for a reference), and failing_rows (rows with
    a null; for accepted values, rows with a value outside the list, as dbt's accepted_values test
    counts them: a null is not outside the list; for an expression, rows where it is false or null,
    as expression_is_true counts them; for the key, the key values held by more than one row, as
    unique_combination's failing rows: nulls are values; for a reference, the rows whose non-null
    value the referenced model does not hold, as dbt's relationships test counts them). A rule with
    a where config, tags or another severity is not folded into a model's test; rules sharing such a
    config may be a column_rules test with it. A model's key is one of its rules here when it has
    other rules (the key reads the model once more, in the same node); a model with a key alone has
    a unique_combination test (macros/test_unique_combination.sql). -#}
{% test column_rules(model, not_null=[], accepted_values=[], expressions=[], unique_key=[], relationships=[]) %}
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
    {%- set parts = [] -%}
    {%- for rule, column, expression in counts -%}
        {%- do parts.append(
            "select '" ~ rule ~ "' as rule, '" ~ column | replace("'", "''") ~ "' as column_name, rule_"
            ~ loop.index ~ " as failing_rows from counted where rule_" ~ loop.index ~ " > 0"
        ) -%}
    {%- endfor -%}
    {%- if unique_key -%}
        {%- set key = unique_key | join(", ") -%}
        {%- do parts.append(
            "select 'unique_key' as rule, '" ~ key ~ "' as column_name, count(*) as failing_rows from ("
            ~ " select 1 from " ~ model ~ " group by " ~ key ~ " having count(*) > 1"
            ~ ") as duplicated_keys having count(*) > 0"
        ) -%}
    {%- endif -%}
    {%- for rule in relationships -%}
        {%- do parts.append(
            "select 'relationships' as rule, '" ~ rule["column"] ~ " -> " ~ rule["to"].identifier ~ "."
            ~ rule["field"] ~ "' as column_name, count(*) as failing_rows from ("
            ~ " select " ~ rule["column"] ~ " as from_field from " ~ model
            ~ " where " ~ rule["column"] ~ " is not null) as child"
            ~ " where not exists (select 1 from " ~ rule["to"] ~ " as parent where parent."
            ~ rule["field"] ~ " = child.from_field) having count(*) > 0"
        ) -%}
    {%- endfor -%}
    {%- if counts %}
    with counted as materialized (
        select
        {%- for rule, column, expression in counts %}
            {{ expression }} as rule_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
        from {{ model }}
    )
    {%- endif %}
    {%- for part in parts %}
    {{ part }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
{% endtest %}
