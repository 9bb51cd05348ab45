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
WHERE coalesce((CASE json_type(json_extract(t.traits, '$."tier"')) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' WHEN 'NULL' THEN 'null' WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN 'number' END) = 'string' AND json_extract_string(json_extract(t.traits, '$."tier"'), '$') = 'gold', false) AND (coalesce((SELECT count(*) AS count_1 
FROM history AS anon_1 
WHERE anon_1.customer_id = customers.customer_id AND anon_1.timestamp <= '2025-06-01 12:00:00+00:00' AND anon_1.event = 'Order Completed' AND anon_1.timestamp >= '2025-05-02 12:00:00+00:00') >= 2, false) OR NOT coalesce((CASE json_type(json_extract(json_extract(t.consents, '$."sms"'), '$."status"')) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' WHEN 'NULL' THEN 'null' WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN 'number' END) = 'string' AND json_extract_string(json_extract(json_extract(t.consents, '$."sms"'), '$."status"'), '$') = 'granted' AND coalesce((CASE json_type(json_extract(t.traits, '$."phone"')) WHEN 'VARCHAR' THEN 'string' WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'array' WHEN 'OBJECT' THEN 'object' WHEN 'NULL' THEN 'null' WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number' WHEN 'HUGEINT' THEN 'number' END) = 'string' AND json_extract_string(json_extract(t.traits, '$."phone"'), '$') != '', false), false))
