WITH customers AS 
(SELECT t.profile_id AS customer_id, (CAST(t.traits AS JSONB) -> CAST('tier' AS TEXT)) AS v0, (CAST(t.consents AS JSONB) -> CAST('sms' AS TEXT) -> CAST('status' AS TEXT)) AS v1, (CAST(t.traits AS JSONB) -> CAST('phone' AS TEXT)) AS v2 
FROM profile_snapshots AS t 
WHERE t.workspace_id = 'ws1' AND t.canonical_id = t.profile_id UNION ALL SELECT extra.customer_id AS customer_id, (CAST(r.traits AS JSONB) -> CAST('tier' AS TEXT)) AS v0, (CAST(r.consents AS JSONB) -> CAST('sms' AS TEXT) -> CAST('status' AS TEXT)) AS v1, (CAST(r.traits AS JSONB) -> CAST('phone' AS TEXT)) AS v2 
FROM (SELECT DISTINCT p.canonical_id AS customer_id 
FROM profile_snapshots AS p 
WHERE p.workspace_id = 'ws1' AND p.canonical_id != p.profile_id AND NOT (EXISTS (SELECT * 
FROM profile_snapshots AS q 
WHERE q.workspace_id = 'ws1' AND q.profile_id = p.canonical_id AND q.canonical_id = q.profile_id))) AS extra LEFT OUTER JOIN profile_snapshots AS r ON r.workspace_id = 'ws1' AND r.profile_id = extra.customer_id)
 SELECT customers.customer_id 
FROM customers LEFT OUTER JOIN (SELECT h1.customer_id AS customer_id, count(*) AS n 
FROM (SELECT coalesce(s.canonical_id, e.profile_id) AS customer_id, e.event AS event, e.timestamp AS timestamp, e.channel AS channel, e.properties AS properties 
FROM events AS e LEFT OUTER JOIN profile_snapshots AS s ON s.profile_id = e.profile_id AND s.workspace_id = 'ws1' 
WHERE e.workspace_id = 'ws1') AS h1 
WHERE h1.timestamp <= '2025-06-01 12:00:00+00:00' AND h1.event = 'Order Completed' AND h1.timestamp >= '2025-05-02 12:00:00+00:00' GROUP BY h1.customer_id) AS c1 ON customers.customer_id = c1.customer_id 
WHERE coalesce((jsonb_typeof(customers.v0) = 'string' AND (customers.v0 #>> '{}') = 'gold'), false) AND (coalesce(coalesce(c1.n, 0) >= 2, false) OR NOT coalesce((jsonb_typeof(customers.v1) = 'string' AND (customers.v1 #>> '{}') = 'granted') AND coalesce((jsonb_typeof(customers.v2) = 'string' AND (customers.v2 #>> '{}') <> ''), false), false))
