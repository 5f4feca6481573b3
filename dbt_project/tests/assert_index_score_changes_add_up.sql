{#- The dimension contributions of every zone, region and year add up to the index change
    (docs/methodology.md §7b); returns the rows where they do not (beyond 1e-9 index points). -#}
select
    zone_code,
    region_code,
    year,
    max(index_change) as index_change,
    sum(contribution) as contributions
from {{ ref('fct_index_score_changes') }}
group by zone_code, region_code, year
having abs(sum(contribution) - max(index_change)) > 1e-9
