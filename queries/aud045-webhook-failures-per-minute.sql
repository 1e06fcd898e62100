-- code: AUD045
-- name: webhook-failures-per-minute
-- title: Admission webhook failures per minute
-- finds: The requests each admission webhook failed or let through after failing open, per minute, by
--   webhook and failure (the timeline of AUD044; denials are not failures and are left out).
-- why: When a webhook outage started and ended, and whether it was one burst (a rollout of the
--   webhook's backend) or a steady stream (a backend that is gone, an expired certificate).
-- columns: minute, webhook_failure, failures
-- chart: timeseries x=minute y=failures series=webhook_failure
-- requires: Metadata
SELECT
  date_trunc('minute', request_received_ts) AS minute,
  webhook || ' (' || webhook_error || ')' AS webhook_failure,
  count(*) AS failures
FROM audit
WHERE webhook IS NOT NULL AND webhook_error <> 'denied'
GROUP BY 1, 2
ORDER BY minute, webhook_failure
