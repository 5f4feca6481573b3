{#- The department divisions 处室 that submit data, with their reporting calendar. -#}
select
    cast(department_code as varchar) as department_code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en,
    cast(reporting_frequency as varchar) as reporting_frequency,
    cast(deadline_days_after_period_end as integer) as deadline_days_after_period_end,
    cast(deadline_rule_text as varchar) as deadline_rule_text,
    cast(deadline_rule_text_en as varchar) as deadline_rule_text_en
from {{ ref('departments') }}
