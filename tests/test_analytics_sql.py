"""The SQL the analytics queries generate, pinned per engine: a change to it shows up in review.

Regenerate after an intended change with ``python tests/test_analytics_sql.py`` and paste the output
over the constants below. Values are bound parameters (``%(name)s``), never part of the text. Lines
are compared without trailing blanks; the long ones are the point of the file, hence the noqa.
"""
# ruff: noqa: E501

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb_engine
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from touchline.analytics import queries

T0 = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
DIALECTS = {"duckdb": duckdb_engine.Dialect(), "postgresql": postgresql.dialect()}


def funnel_query() -> sa.Select[Any]:
    return queries.funnel("ws", [("Product Viewed", {}), ("Order Completed", {"currency": "KRW"})],
                          dt.timedelta(days=1), T0, T0 + dt.timedelta(days=7), "channel")


def cohort_query() -> sa.CompoundSelect:
    return queries.cohorts("ws", "Order Completed", "Order Completed", "week", "Asia/Seoul",
                           T0, T0 + dt.timedelta(days=35))


def compiled(query: sa.Select[Any] | sa.CompoundSelect, dialect: str) -> str:
    return "\n".join(line.rstrip() for line in str(query.compile(dialect=DIALECTS[dialect])).splitlines())


FUNNEL_DUCKDB = """\
WITH ev AS
(SELECT coalesce(merged.canonical_id, events.profile_id) AS customer, events.seq AS seq, events.type AS type, events.event AS event, events.timestamp AS ts, events.channel AS channel, events.device_type AS device_type, events.properties AS properties, events.context AS context
FROM events LEFT OUTER JOIN (SELECT profile_snapshots.profile_id AS profile_id, profile_snapshots.canonical_id AS canonical_id
FROM profile_snapshots
WHERE profile_snapshots.workspace_id = %(workspace_id_1)s AND profile_snapshots.canonical_id != profile_snapshots.profile_id) AS merged ON merged.profile_id = events.profile_id
WHERE events.workspace_id = %(workspace_id_2)s AND (events.user_id IS NOT NULL OR events.anonymous_id IS NOT NULL)),
step1 AS
(SELECT e.customer AS customer, min(e.ts) AS t1
FROM ev AS e
WHERE e.event = %(event_1)s AND e.ts >= %(ts_1)s AND e.ts < %(ts_2)s GROUP BY e.customer),
step2 AS
(SELECT step1.customer AS customer, step1.t1 AS t1, min(e.ts) AS t2
FROM step1 JOIN ev AS e ON e.customer = step1.customer AND e.event = %(event_2)s AND json_extract_string(e.properties, %(param_1)s) = %(param_2)s AND e.ts > step1.t1 AND e.ts <= step1.t1 + %(param_3)s GROUP BY step1.customer, step1.t1),
groups AS
(SELECT step1.customer AS customer, min(g.channel) AS grp
FROM step1 JOIN ev AS g ON g.customer = step1.customer AND g.ts = step1.t1 AND g.event = %(event_3)s GROUP BY step1.customer),
journeys AS
(SELECT groups.grp AS grp, step1.t1 AS t1, step2.t2 AS t2
FROM step1 LEFT OUTER JOIN step2 ON step2.customer = step1.customer JOIN groups ON groups.customer = step1.customer)
 SELECT journeys.grp, count(journeys.t1) AS entered_1, count(journeys.t2) AS entered_2, percentile_cont(%(percentile_cont_1)s) WITHIN GROUP (ORDER BY CAST(EXTRACT(epoch FROM journeys.t2) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch FROM journeys.t1) AS DOUBLE PRECISION)) AS median_2
FROM journeys GROUP BY journeys.grp ORDER BY journeys.grp"""


FUNNEL_POSTGRES = """\
WITH ev AS NOT MATERIALIZED
(SELECT coalesce(merged.canonical_id, events.profile_id) AS customer, events.seq AS seq, events.type AS type, events.event AS event, events.timestamp AS ts, events.channel AS channel, events.device_type AS device_type, events.properties AS properties, events.context AS context
FROM events LEFT OUTER JOIN (SELECT profile_snapshots.profile_id AS profile_id, profile_snapshots.canonical_id AS canonical_id
FROM profile_snapshots
WHERE profile_snapshots.workspace_id = %(workspace_id_1)s::VARCHAR AND profile_snapshots.canonical_id != profile_snapshots.profile_id) AS merged ON merged.profile_id = events.profile_id
WHERE events.workspace_id = %(workspace_id_2)s::VARCHAR AND (events.user_id IS NOT NULL OR events.anonymous_id IS NOT NULL)),
step1 AS
(SELECT e.customer AS customer, min(e.ts) AS t1
FROM ev AS e
WHERE e.event = %(event_1)s::VARCHAR AND e.ts >= %(ts_1)s::TIMESTAMP WITH TIME ZONE AND e.ts < %(ts_2)s::TIMESTAMP WITH TIME ZONE GROUP BY e.customer),
step2 AS
(SELECT step1.customer AS customer, step1.t1 AS t1, min(e.ts) AS t2
FROM step1 JOIN ev AS e ON e.customer = step1.customer AND e.event = %(event_2)s::VARCHAR AND jsonb_extract_path_text(e.properties, %(param_1)s::VARCHAR) = %(param_2)s::VARCHAR AND e.ts > step1.t1 AND e.ts <= step1.t1 + %(param_3)s GROUP BY step1.customer, step1.t1),
groups AS
(SELECT step1.customer AS customer, min(g.channel) AS grp
FROM step1 JOIN ev AS g ON g.customer = step1.customer AND g.ts = step1.t1 AND g.event = %(event_3)s::VARCHAR GROUP BY step1.customer),
journeys AS
(SELECT groups.grp AS grp, step1.t1 AS t1, step2.t2 AS t2
FROM step1 LEFT OUTER JOIN step2 ON step2.customer = step1.customer JOIN groups ON groups.customer = step1.customer)
 SELECT journeys.grp, count(journeys.t1) AS entered_1, count(journeys.t2) AS entered_2, percentile_cont(%(percentile_cont_1)s) WITHIN GROUP (ORDER BY CAST(EXTRACT(epoch FROM journeys.t2) AS DOUBLE PRECISION) - CAST(EXTRACT(epoch FROM journeys.t1) AS DOUBLE PRECISION)) AS median_2
FROM journeys GROUP BY journeys.grp ORDER BY journeys.grp"""


COHORT_DUCKDB = """\
WITH ev AS
(SELECT coalesce(merged.canonical_id, events.profile_id) AS customer, events.seq AS seq, events.type AS type, events.event AS event, events.timestamp AS ts, events.channel AS channel, events.device_type AS device_type, events.properties AS properties, events.context AS context
FROM events LEFT OUTER JOIN (SELECT profile_snapshots.profile_id AS profile_id, profile_snapshots.canonical_id AS canonical_id
FROM profile_snapshots
WHERE profile_snapshots.workspace_id = %(workspace_id_1)s AND profile_snapshots.canonical_id != profile_snapshots.profile_id) AS merged ON merged.profile_id = events.profile_id
WHERE events.workspace_id = %(workspace_id_2)s AND (events.user_id IS NOT NULL OR events.anonymous_id IS NOT NULL)),
per_period AS MATERIALIZED
(SELECT dated.customer AS customer, dated.period AS period, min(dated.ts) FILTER (WHERE dated.event = %(event_1)s) AS first_ts, max(dated.ts) FILTER (WHERE dated.event = %(event_2)s) AS last_ts
FROM (SELECT ev.customer AS customer, ev.ts AS ts, ev.event AS event, date_trunc(%(param_6)s, coalesce(make_timestamp(epoch_us(ev.ts) + CASE WHEN (epoch_us(ev.ts) < %(param_8)s) THEN NULL WHEN (epoch_us(ev.ts) < %(param_9)s) THEN %(param_10)s ELSE NULL END), timezone(%(param_7)s, ev.ts))) AS period
FROM ev
WHERE ev.ts < %(ts_1)s AND ev.event IN (__[POSTCOMPILE_event_3])) AS dated GROUP BY dated.customer, dated.period),
cohorts AS MATERIALIZED
(SELECT firsts.customer AS customer, firsts.cohort_ts AS cohort_ts, date_trunc(%(param_1)s, coalesce(make_timestamp(epoch_us(firsts.cohort_ts) + CASE WHEN (epoch_us(firsts.cohort_ts) < %(param_3)s) THEN NULL WHEN (epoch_us(firsts.cohort_ts) < %(param_4)s) THEN %(param_5)s ELSE NULL END), timezone(%(param_2)s, firsts.cohort_ts))) AS cohort
FROM (SELECT per_period.customer AS customer, min(per_period.first_ts) AS cohort_ts
FROM per_period GROUP BY per_period.customer
HAVING min(per_period.first_ts) >= %(min_1)s AND min(per_period.first_ts) < %(min_2)s) AS firsts)
 SELECT cohorts.cohort, CAST(NULL AS TIMESTAMP WITHOUT TIME ZONE) AS period, count(*) AS customers
FROM cohorts GROUP BY cohorts.cohort UNION ALL SELECT cohorts.cohort, per_period.period, count(*) AS customers
FROM cohorts JOIN per_period ON per_period.customer = cohorts.customer AND per_period.last_ts >= cohorts.cohort_ts GROUP BY cohorts.cohort, per_period.period"""


COHORT_POSTGRES = """\
WITH ev AS NOT MATERIALIZED
(SELECT coalesce(merged.canonical_id, events.profile_id) AS customer, events.seq AS seq, events.type AS type, events.event AS event, events.timestamp AS ts, events.channel AS channel, events.device_type AS device_type, events.properties AS properties, events.context AS context
FROM events LEFT OUTER JOIN (SELECT profile_snapshots.profile_id AS profile_id, profile_snapshots.canonical_id AS canonical_id
FROM profile_snapshots
WHERE profile_snapshots.workspace_id = %(workspace_id_1)s::VARCHAR AND profile_snapshots.canonical_id != profile_snapshots.profile_id) AS merged ON merged.profile_id = events.profile_id
WHERE events.workspace_id = %(workspace_id_2)s::VARCHAR AND (events.user_id IS NOT NULL OR events.anonymous_id IS NOT NULL)),
per_period AS MATERIALIZED
(SELECT dated.customer AS customer, dated.period AS period, min(dated.ts) FILTER (WHERE dated.event = %(event_1)s::VARCHAR) AS first_ts, max(dated.ts) FILTER (WHERE dated.event = %(event_2)s::VARCHAR) AS last_ts
FROM (SELECT ev.customer AS customer, ev.ts AS ts, ev.event AS event, date_trunc(%(param_6)s::VARCHAR, timezone(%(param_7)s::VARCHAR, ev.ts)) AS period
FROM ev
WHERE ev.ts < %(ts_1)s::TIMESTAMP WITH TIME ZONE AND ev.event IN (__[POSTCOMPILE_event_3])) AS dated GROUP BY dated.customer, dated.period),
cohorts AS MATERIALIZED
(SELECT firsts.customer AS customer, firsts.cohort_ts AS cohort_ts, date_trunc(%(param_1)s::VARCHAR, timezone(%(param_2)s::VARCHAR, firsts.cohort_ts)) AS cohort
FROM (SELECT per_period.customer AS customer, min(per_period.first_ts) AS cohort_ts
FROM per_period GROUP BY per_period.customer
HAVING min(per_period.first_ts) >= %(min_1)s::TIMESTAMP WITH TIME ZONE AND min(per_period.first_ts) < %(min_2)s::TIMESTAMP WITH TIME ZONE) AS firsts)
 SELECT cohorts.cohort, CAST(NULL AS TIMESTAMP WITHOUT TIME ZONE) AS period, count(*) AS customers
FROM cohorts GROUP BY cohorts.cohort UNION ALL SELECT cohorts.cohort, per_period.period, count(*) AS customers
FROM cohorts JOIN per_period ON per_period.customer = cohorts.customer AND per_period.last_ts >= cohorts.cohort_ts GROUP BY cohorts.cohort, per_period.period"""


@pytest.mark.parametrize(("dialect", "expected"), [("duckdb", FUNNEL_DUCKDB), ("postgresql", FUNNEL_POSTGRES)])
def test_funnel_sql(dialect: str, expected: str) -> None:
    assert compiled(funnel_query(), dialect) == expected


@pytest.mark.parametrize(("dialect", "expected"), [("duckdb", COHORT_DUCKDB), ("postgresql", COHORT_POSTGRES)])
def test_cohort_sql(dialect: str, expected: str) -> None:
    assert compiled(cohort_query(), dialect) == expected


def test_values_are_bound_not_written_into_the_sql() -> None:
    query = funnel_query()
    # The property key travels as a key list on PostgreSQL and as a JSON pointer on DuckDB.
    for dialect, key in (("postgresql", "currency"), ("duckdb", "/currency")):
        params = query.compile(dialect=DIALECTS[dialect]).params
        assert {"ws", "Product Viewed", "Order Completed", "KRW", key} <= set(params.values())
        text = compiled(query, dialect)
        assert "Product Viewed" not in text and "KRW" not in text and "ws" not in text.split()


if __name__ == "__main__":
    for name, make in (("FUNNEL", funnel_query), ("COHORT", cohort_query)):
        for suffix, dialect in (("DUCKDB", "duckdb"), ("POSTGRES", "postgresql")):
            print(f'{name}_{suffix} = """\\\n{compiled(make(), dialect)}"""\n\n')
