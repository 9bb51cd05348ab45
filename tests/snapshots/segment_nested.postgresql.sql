WITH history AS 
(SELECT coalesce(s.canonical_id, e.profile_id) AS customer_id, e.event AS event, e.timestamp AS timestamp, e.channel AS channel, e.properties AS properties 
FROM events AS e LEFT OUTER JOIN profile_snapshots AS s ON s.profile_id = e.profile_id AND s.workspace_id = 'ws1' 
WHERE e.workspace_id = 'ws1'), 
customers AS 
(SELECT history.customer_id AS customer_id 
FROM history UNION SELECT p.canonical_id AS canonical_id 
FROM profile_snapshots AS p 
WHERE p.workspace_id = 'ws1')
 SELECT customers.customer_id 
FROM customers LEFT OUTER JOIN profile_snapshots AS t ON t.workspace_id = 'ws1' AND t.profile_id = customers.customer_id 
WHERE coalesce(jsonb_typeof((CAST(t.traits AS JSONB) -> CAST('tier' AS TEXT))) = 'string' AND ((CAST(t.traits AS JSONB) -> CAST('tier' AS TEXT)) #>> '{}') = 'gold', false) AND (coalesce((SELECT count(*) AS count_1 
FROM history AS anon_1 
WHERE anon_1.customer_id = customers.customer_id AND anon_1.timestamp <= '2025-06-01 12:00:00+00:00' AND anon_1.event = 'Order Completed' AND anon_1.timestamp >= '2025-05-02 12:00:00+00:00') >= 2, false) OR NOT coalesce(jsonb_typeof((CAST((CAST(t.consents AS JSONB) -> CAST('sms' AS TEXT)) AS JSONB) -> CAST('status' AS TEXT))) = 'string' AND ((CAST((CAST(t.consents AS JSONB) -> CAST('sms' AS TEXT)) AS JSONB) -> CAST('status' AS TEXT)) #>> '{}') = 'granted' AND coalesce(jsonb_typeof((CAST(t.traits AS JSONB) -> CAST('phone' AS TEXT))) = 'string' AND ((CAST(t.traits AS JSONB) -> CAST('phone' AS TEXT)) #>> '{}') != '', false), false))
