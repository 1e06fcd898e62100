//! Talking to CloudWatch Logs: the SDK client (one TLS stack: rustls + ring, as kube uses), error
//! classification, and the one retry loop every call goes through.
//!
//! The SDK's own retries are turned off: each attempt, first or retried, must take a slot from the
//! shared [`RateLimiter`], or sustained throttling would make the SDK retry past the quota.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs as cwl;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use cwl::config::{ProvideCredentials, Region};
use cwl::error::{ProvideErrorMetadata, SdkError};

use super::CwError;
use super::limiter::RateLimiter;

/// Where and as whom to connect.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The operations kscope calls, with the IAM action each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    DescribeLogStreams,
    GetLogEvents,
    FilterLogEvents,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::DescribeLogStreams => "DescribeLogStreams",
            Op::GetLogEvents => "GetLogEvents",
            Op::FilterLogEvents => "FilterLogEvents",
        }
    }
    pub fn action(self) -> &'static str {
        match self {
            Op::DescribeLogStreams => "logs:DescribeLogStreams",
            Op::GetLogEvents => "logs:GetLogEvents",
            Op::FilterLogEvents => "logs:FilterLogEvents",
        }
    }
}

/// The standard AWS chain (environment, profiles, SSO, web identity, container and instance roles)
/// with kscope's region, profile and endpoint flags; checks that credentials resolve. Returns the
/// region in use. Shared by CloudWatch Logs and the S3 store.
pub async fn sdk_config(o: &ClientOptions) -> Result<(aws_config::SdkConfig, String), CwError> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .app_name(
            cwl::config::AppName::new("kscope").map_err(|e| CwError::Api {
                op: "configure",
                message: e.to_string(),
            })?,
        );
    if let Some(r) = &o.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &o.profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = &o.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    let sdk = loader.load().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or(CwError::NoRegion)?;
    match sdk.credentials_provider() {
        None => return Err(CwError::Credentials("no credentials provider".into())),
        Some(p) => {
            if let Err(e) = p.provide_credentials().await {
                return Err(CwError::Credentials(chain(&e)));
            }
        }
    }
    Ok((sdk, region))
}

/// The CloudWatch Logs client over [`sdk_config`].
pub async fn connect(o: &ClientOptions) -> Result<(cwl::Client, String), CwError> {
    let (sdk, region) = sdk_config(o).await?;
    let conf = cwl::config::Builder::from(&sdk)
        .retry_config(cwl::config::retry::RetryConfig::disabled())
        .timeout_config(
            cwl::config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        )
        .build();
    Ok((cwl::Client::from_conf(conf), region))
}

/// Why one attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// ThrottlingException and kin: slow everyone down, then retry.
    Throttled(String),
    /// 5xx, timeouts, dropped connections, unreadable responses: retry.
    Transient(String),
    /// The service rejected the forward token (expired): start the slice again.
    BadToken(String),
    /// The endpoint refused the connection: nothing listens there. Retried at most
    /// [`REFUSED_ATTEMPTS`] times in all, whatever `--max-retries` says.
    Refused(String),
    /// Retrying cannot help.
    Fatal(CwError),
}

/// Sorts an SDK error. `what` names the object for messages (log group, stream).
pub fn classify<E>(op: Op, what: &str, e: SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("").to_string();
            let message = se.err().message().unwrap_or("").to_string();
            let status = se.raw().status().as_u16();
            let text = if message.is_empty() {
                format!("{code} (HTTP {status})")
            } else {
                format!("{code}: {message}")
            };
            match code.as_str() {
                "ThrottlingException"
                | "Throttling"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "LimitExceededException" => Failure::Throttled(text),
                "AccessDeniedException" | "AccessDenied" => Failure::Fatal(CwError::AccessDenied {
                    action: op.action(),
                    on: what.to_string(),
                    message: text,
                }),
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "ExpiredTokenException"
                | "InvalidClientTokenId" => Failure::Fatal(CwError::Credentials(text)),
                "ResourceNotFoundException" => Failure::Fatal(CwError::NotFound {
                    what: what.to_string(),
                    message: text,
                }),
                "InvalidParameterException" if message.to_ascii_lowercase().contains("token") => {
                    Failure::BadToken(text)
                }
                _ if status >= 500 || code == "ServiceUnavailableException" => {
                    Failure::Transient(text)
                }
                _ => Failure::Fatal(CwError::Api {
                    op: op.name(),
                    message: text,
                }),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            if refused(&e) {
                Failure::Refused(chain(&e))
            } else {
                Failure::Transient(chain(&e))
            }
        }
        _ => Failure::Fatal(CwError::Api {
            op: op.name(),
            message: chain(&e),
        }),
    }
}

/// Whether an error was caused by a refused connection.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// An error and its causes on one line, Display only (the SDK's own context printer ends with a
/// `Debug` dump of the whole error, which users should never see).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cur = Some(e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !s.is_empty() && !out.contains(&s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// Attempts at most on an endpoint that refuses connections.
pub const REFUSED_ATTEMPTS: u32 = 3;

/// Calls of one operation: shared rate limiter, bounded retries with backoff and jitter, counters.
#[derive(Debug)]
pub struct Caller {
    pub op: Op,
    pub limiter: RateLimiter,
    pub max_retries: u32,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    /// The endpoint called, for messages (`--endpoint-url`, or the region's).
    pub endpoint: String,
}

const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(20);

impl Caller {
    pub fn new(op: Op, max_tps: f64, max_retries: u32) -> Self {
        Caller {
            op,
            limiter: RateLimiter::new(max_tps),
            max_retries,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            endpoint: "the regional CloudWatch Logs endpoint".into(),
        }
    }

    /// Names the endpoint in messages.
    pub fn at(mut self, endpoint: &str) -> Self {
        self.endpoint = endpoint.to_string();
        self
    }

    /// Runs `attempt` until it succeeds, fails for good, or `max_retries` retries are spent.
    /// `BadToken` is returned to the caller at once.
    pub async fn call<T, Fut>(&self, mut attempt: impl FnMut() -> Fut) -> Result<T, Failure>
    where
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut tries = 0u32;
        let mut refusals = 0u32;
        loop {
            self.limiter.acquire().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let last = match attempt().await {
                Ok(v) => {
                    self.limiter.succeeded().await;
                    return Ok(v);
                }
                Err(Failure::Throttled(m)) => {
                    self.throttled.fetch_add(1, Ordering::Relaxed);
                    self.limiter.throttled().await;
                    m
                }
                Err(Failure::Transient(m)) => m,
                Err(Failure::Refused(m)) => {
                    refusals += 1;
                    if refusals >= REFUSED_ATTEMPTS {
                        return Err(Failure::Fatal(CwError::Unreachable {
                            endpoint: self.endpoint.clone(),
                            attempts: refusals,
                            last: m,
                        }));
                    }
                    m
                }
                Err(other) => return Err(other),
            };
            tries += 1;
            if tries > self.max_retries {
                return Err(Failure::Fatal(CwError::GaveUp {
                    op: self.op.name(),
                    attempts: tries,
                    last,
                }));
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("{}: retry {tries} after: {last}", self.op.name());
            tokio::time::sleep(backoff(tries)).await;
        }
    }
}

/// Exponential backoff with jitter: a random delay in [d/2, d), d = base × 2^(try-1), capped.
fn backoff(tries: u32) -> Duration {
    let d = BACKOFF_BASE
        .saturating_mul(1u32 << tries.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    d.mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap_with_jitter() {
        for t in 1..30 {
            let d = backoff(t);
            let full = BACKOFF_BASE
                .saturating_mul(1u32 << (t - 1).min(16))
                .min(BACKOFF_CAP);
            assert!(d >= full / 2 && d < full, "try {t}: {d:?}");
        }
        assert!(backoff(40) >= BACKOFF_CAP / 2);
    }
}
