WITH customers AS 
(SELECT t.profile_id AS customer_id, json_extract(t.traits, '$."tier"') AS v0, json_extract(t.consents, '$."sms"."status"') AS v1, json_extract(t.traits, '$."phone"') AS v2 
FROM profile_snapshots AS t 
WHERE t.workspace_id = 'ws1' AND t.canonical_id = t.profile_id UNION ALL SELECT extra.customer_id AS customer_id, json_extract(r.traits, '$."tier"') AS v0, json_extract(r.consents, '$."sms"."status"') AS v1, json_extract(r.traits, '$."phone"') AS v2 
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
WHERE coalesce((customers.v0 = to_json(CAST('gold' AS VARCHAR))), false) AND (coalesce(coalesce(c1.n, 0) >= 2, false) OR NOT coalesce((customers.v1 = to_json(CAST('granted' AS VARCHAR))) AND coalesce((CAST(customers.v2 AS VARCHAR) LIKE '"__%'), false), false))
