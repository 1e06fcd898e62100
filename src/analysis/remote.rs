//! Running one planned query: its batches and what it spilled, and on a remote (Ballista) engine
//! within a deadline, submitted again when an executor is lost under it.

use super::*;

/// Collects a query's batches, within `timeout` when one is given (remote engines).
pub(crate) async fn collect(
    df: datafusion::dataframe::DataFrame,
    timeout: Option<std::time::Duration>,
    what: &str,
    partials: Option<&Partials>,
) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, AnalysisError> {
    Ok(run(df, timeout, what, partials).await?.0)
}

/// How many times a remote query is submitted when an executor is lost under it.
pub(crate) const REMOTE_ATTEMPTS: u32 = 3;

/// Runs a query: its batches and the bytes its sorts and aggregations spilled to disk. With a
/// `timeout` (a remote engine) the query must finish within it, and a job that lost an executor
/// ([`executor_lost`]) is submitted again, up to [`REMOTE_ATTEMPTS`] times within the same
/// timeout, so the answer comes from the executors that remain: never a partial one.
pub(crate) async fn run(
    df: datafusion::dataframe::DataFrame,
    timeout: Option<std::time::Duration>,
    what: &str,
    partials: Option<&Partials>,
) -> Result<(Vec<datafusion::arrow::record_batch::RecordBatch>, u64), AnalysisError> {
    let task_ctx = std::sync::Arc::new(df.task_ctx());
    let started = std::time::Instant::now();
    let mut plan = df.create_physical_plan().await?;
    let planned = started.elapsed();
    // the plan over the data, when partial aggregates replaced part of it
    let mut over_data = None;
    if let Some(p) = partials {
        let with = p.substitute(plan.clone(), &task_ctx).await?;
        if !Arc::ptr_eq(&with, &plan) {
            over_data = Some(std::mem::replace(&mut plan, with));
        }
    }
    tracing::debug!(
        "{what}: planned in {planned:.2?}, partial aggregates placed in {:.2?}",
        started.elapsed() - planned
    );
    let collect = || datafusion::physical_plan::collect(plan.clone(), task_ctx.clone());
    let Some(limit) = timeout else {
        let batches = match (collect().await, over_data) {
            // kept states that cannot be read (damaged, or not what this plan expects): the
            // answer comes from the data, and the warning says how to rebuild them
            (Err(e), Some(data)) if exhausted(&e).is_none() => {
                tracing::warn!(
                    "{what}: the kept partial aggregates could not be read ({}); read the data \
                     instead (delete STORE/{} to compute them again)",
                    first_line(&e),
                    partials::DIR
                );
                let batches =
                    datafusion::physical_plan::collect(data.clone(), task_ctx.clone()).await?;
                return Ok((batches, spilled(&data)));
            }
            (batches, _) => batches?,
        };
        return Ok((batches, spilled(&plan)));
    };
    let deadline = std::time::Instant::now() + limit;
    let mut lost: Option<String> = None;
    let timed_out = |lost: &Option<String>| AnalysisError::Timeout {
        what: what.to_string(),
        secs: limit.as_secs(),
        why: match lost {
            Some(e) => format!(
                "re-submitted after an executor was lost under it ({e}); the executors left did \
                 not finish it: are any left?"
            ),
            None => "an executor lost or overloaded?".to_string(),
        },
    };
    let mut attempt = 1;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let e = match tokio::time::timeout(left, collect()).await {
            Err(_) => return Err(timed_out(&lost)),
            Ok(Ok(batches)) => return Ok((batches, spilled(&plan))),
            Ok(Err(e)) => e,
        };
        if attempt >= REMOTE_ATTEMPTS || !executor_lost(&e) {
            return Err(e.into());
        }
        let why = first_line(&e);
        tracing::warn!(
            "{what}: an executor was lost under it ({why}); submitting it again ({} of {REMOTE_ATTEMPTS})",
            attempt + 1
        );
        lost = Some(why);
        attempt += 1;
        // the scheduler needs a moment to take the executor out
        let pause = std::time::Duration::from_secs(attempt as u64 - 1);
        if tokio::time::timeout(left, tokio::time::sleep(pause))
            .await
            .is_err()
        {
            return Err(timed_out(&lost));
        }
    }
}

/// Whether a remote query failed because an executor went away under it: a shuffle or result
/// fetch that cannot reach it, or a job kscope's scheduler cancelled because it lost one.
pub fn executor_lost(e: &datafusion::error::DataFusionError) -> bool {
    const GONE: [&str; 6] = [
        "Shuffle fetch partition error",
        "tcp connect error",
        "h2 protocol error",
        "broken pipe",
        "Connection reset",
        "transport error",
    ];
    let msg = e.to_string();
    GONE.iter().any(|g| msg.contains(g))
        || (msg.contains("Job ") && msg.contains("failed: Cancelled"))
}

pub(crate) fn first_line(e: &datafusion::error::DataFusionError) -> String {
    let msg = e.to_string();
    let line = msg.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::executor_lost;
    use datafusion::error::DataFusionError;

    #[test]
    fn only_a_lost_executor_makes_a_remote_query_run_again() {
        let lost = [
            "Job 038HFK6H28000 failed: Cancelled",
            "Shuffle fetch partition error from Executor 99a8, map_stage 2: tcp connect error",
            "Job 038HFKCQ9M000 failed: Task failed: h2 protocol error: error reading a body from connection",
        ];
        for m in lost {
            assert!(executor_lost(&DataFusionError::Execution(m.into())), "{m}");
        }
        let not = [
            "Job 038HFK6H28000 failed: Error during planning: table 'audit' not found",
            "Resources exhausted: Failed to allocate additional 1.0 MB",
            "Cancelled",
        ];
        for m in not {
            assert!(!executor_lost(&DataFusionError::Execution(m.into())), "{m}");
        }
    }
}
