//! The Parquet audit store: the `audit` table written once as Parquet (zstd, statistics, rows
//! sorted by time), hive-partitioned `cluster=NAME/date=YYYY-MM-DD/hour=HH/`, in a local directory
//! or under an S3 prefix, and read back with partition and projection pruning.
//!
//! The manifest records which files every ingested source wrote (files keyed by a hash of their
//! content, CloudWatch slices by slice), so that ingesting a source again replaces exactly its
//! files. It is one object per source, `_kscope/sources/<key>.json`, each written whole in one
//! put (atomic on a directory and on S3): ingests of different sources into one store at once
//! never write the same object, so none loses another's entry. A store written before keeps its
//! `_kscope/manifest.json`, read beneath the per-source objects. Files are written under `_kscope/staging/` and renamed into their partition when
//! complete: a query never sees a partial file.

pub mod ingest;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::audit::schema::audit_schema;
use crate::cloudwatch::aws::ClientOptions;

/// The partition columns, outermost first.
pub const PARTITIONS: [&str; 3] = ["cluster", "date", "hour"];
/// The manifest of stores written before per-source entries (read, never written).
const MANIFEST: &str = "_kscope/manifest.json";
/// One object per ingested source.
const SOURCES: &str = "_kscope/sources";
const STAGING: &str = "_kscope/staging";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store {0:?}: give a directory or s3://bucket/prefix")]
    Spec(String),
    #[error("store {store}: {source}")]
    Object {
        store: String,
        source: object_store::Error,
    },
    #[error("store {0}: the AWS configuration: {1}")]
    Aws(String, String),
    #[error("store {store}: manifest: {msg}")]
    Manifest { store: String, msg: String },
    #[error("cluster name {0:?}: use letters, digits, '.', '_' or '-' (it names a partition)")]
    ClusterName(String),
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
}

/// What one ingested source wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The source as given (a path, or a CloudWatch slice).
    pub source: String,
    pub cluster: String,
    /// Files, relative to the store root.
    pub files: Vec<String>,
    pub rows: u64,
    /// Malformed lines skipped while reading it.
    pub malformed: u64,
    pub ingested_at: String,
}

/// `_kscope/manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// Source key (`file:<hash>` or `cloudwatch:<slice>`) → what it wrote.
    pub sources: BTreeMap<String, Entry>,
}

/// One source's entry, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fragment {
    key: String,
    entry: Entry,
}

/// The object of a source's entry: readable, and unique per key (a hash of the whole key).
fn fragment_name(key: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{SOURCES}/{readable}-{h:016x}.json")
}

/// A store: where it is and how to reach it.
#[derive(Debug, Clone)]
pub struct Store {
    /// As given on the command line.
    pub spec: String,
    /// The table URL (with a trailing `/`).
    pub url: ListingTableUrl,
    /// The scheme and authority (`file:///`, `s3://bucket`) the object store is registered for.
    base: url::Url,
    pub objects: Arc<dyn ObjectStore>,
    /// The store root inside the object store.
    pub root: ObjPath,
    /// The directory of a local store (empty directories are removed after staging).
    pub local: Option<std::path::PathBuf>,
}

/// `--cluster-name` values name partitions: keep them to safe characters.
pub fn check_cluster_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(StoreError::ClusterName(name.to_string()))
    }
}

/// AWS credentials from kscope's standard chain, for `object_store`.
#[derive(Debug)]
struct ChainCredentials(aws_credential_types::provider::SharedCredentialsProvider);

#[async_trait::async_trait]
impl object_store::CredentialProvider for ChainCredentials {
    type Credential = object_store::aws::AwsCredential;
    async fn get_credential(&self) -> object_store::Result<Arc<Self::Credential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
        Ok(Arc::new(object_store::aws::AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(String::from),
        }))
    }
}

impl Store {
    /// Opens (for local stores: creates) the store `spec`: a directory, or `s3://bucket/prefix`
    /// reached through the standard AWS chain with `aws`'s region, profile and endpoint.
    pub async fn open(spec: &str, aws: &ClientOptions) -> Result<Store, StoreError> {
        let obj = |source| StoreError::Object {
            store: spec.to_string(),
            source,
        };
        if let Some(rest) = spec.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::Spec(spec.into()));
            }
            let (sdk, region) = crate::cloudwatch::aws::sdk_config(aws)
                .await
                .map_err(|e| StoreError::Aws(spec.into(), e.to_string()))?;
            let creds = sdk
                .credentials_provider()
                .ok_or_else(|| StoreError::Aws(spec.into(), "no credentials".into()))?;
            let mut b = object_store::aws::AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(region)
                .with_credentials(Arc::new(ChainCredentials(creds)));
            if let Some(e) = &aws.endpoint_url {
                b = b
                    .with_endpoint(e)
                    .with_allow_http(e.starts_with("http://"))
                    .with_virtual_hosted_style_request(false);
            }
            let s3 = b.build().map_err(obj)?;
            let prefix = prefix.trim_matches('/');
            let url = format!(
                "s3://{bucket}/{}",
                if prefix.is_empty() {
                    String::new()
                } else {
                    format!("{prefix}/")
                }
            );
            Ok(Store {
                spec: spec.into(),
                url: ListingTableUrl::parse(&url)?,
                base: url::Url::parse(&format!("s3://{bucket}"))
                    .map_err(|_| StoreError::Spec(spec.into()))?,
                objects: Arc::new(s3),
                root: ObjPath::from(prefix),
                local: None,
            })
        } else if spec.contains("://") {
            Err(StoreError::Spec(spec.into()))
        } else {
            let local = |e: Box<dyn std::error::Error + Send + Sync>| {
                obj(object_store::Error::Generic {
                    store: "local",
                    source: e,
                })
            };
            std::fs::create_dir_all(spec).map_err(|e| local(Box::new(e)))?;
            let abs = std::fs::canonicalize(spec).map_err(|e| local(Box::new(e)))?;
            let root = ObjPath::from_absolute_path(&abs).map_err(|e| local(Box::new(e)))?;
            let url =
                url::Url::from_directory_path(&abs).map_err(|_| StoreError::Spec(spec.into()))?;
            Ok(Store {
                spec: spec.into(),
                url: ListingTableUrl::parse(url.as_str())?,
                base: url::Url::parse("file:///").map_err(|_| StoreError::Spec(spec.into()))?,
                objects: Arc::new(object_store::local::LocalFileSystem::new()),
                root,
                local: Some(abs),
            })
        }
    }

    fn obj_err(&self, source: object_store::Error) -> StoreError {
        StoreError::Object {
            store: self.spec.clone(),
            source,
        }
    }

    /// A path below the store root.
    pub fn path(&self, rel: &str) -> ObjPath {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p = p.join(part);
        }
        p
    }

    /// `p` relative to the store root.
    pub fn relative(&self, p: &ObjPath) -> String {
        p.prefix_match(&self.root)
            .map(|parts| {
                parts
                    .map(|x| x.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|| p.to_string())
    }

    /// Every source's entry: the per-source objects over the older whole manifest.
    pub async fn manifest(&self) -> Result<Manifest, StoreError> {
        let bad = |e: serde_json::Error| StoreError::Manifest {
            store: self.spec.clone(),
            msg: e.to_string(),
        };
        let mut m = match self.objects.get(&self.path(MANIFEST)).await {
            Err(object_store::Error::NotFound { .. }) => Manifest::default(),
            Err(e) => return Err(self.obj_err(e)),
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| self.obj_err(e))?;
                serde_json::from_slice(&bytes).map_err(bad)?
            }
        };
        m.version = 2;
        let names = self.list(&format!("{SOURCES}/")).await?;
        let fragments: Vec<Result<Option<Fragment>, StoreError>> =
            futures::stream::iter(names.into_iter().filter(|n| n.ends_with(".json")).map(
                |rel| async move {
                    match self.objects.get(&self.path(&rel)).await {
                        // deleted between the listing and the read
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(self.obj_err(e)),
                        Ok(r) => {
                            let bytes = r.bytes().await.map_err(|e| self.obj_err(e))?;
                            serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                                StoreError::Manifest {
                                    store: self.spec.clone(),
                                    msg: format!("{rel}: {e}"),
                                }
                            })
                        }
                    }
                },
            ))
            .buffer_unordered(16)
            .collect()
            .await;
        for f in fragments {
            if let Some(f) = f? {
                m.sources.insert(f.key, f.entry);
            }
        }
        Ok(m)
    }

    /// Records what one source wrote: its own object, written whole in one put.
    pub async fn write_entry(&self, key: &str, entry: &Entry) -> Result<(), StoreError> {
        let body = serde_json::to_vec_pretty(&Fragment {
            key: key.to_string(),
            entry: entry.clone(),
        })
        .map_err(|e| StoreError::Manifest {
            store: self.spec.clone(),
            msg: e.to_string(),
        })?;
        self.objects
            .put(&self.path(&fragment_name(key)), PutPayload::from(body))
            .await
            .map(|_| ())
            .map_err(|e| self.obj_err(e))
    }

    /// Every object below `rel` (relative paths).
    pub async fn list(&self, rel: &str) -> Result<Vec<String>, StoreError> {
        let prefix = self.path(rel);
        let metas: Vec<_> = self
            .objects
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.obj_err(e))?;
        Ok(metas.iter().map(|m| self.relative(&m.location)).collect())
    }

    /// Makes the store's object store known to a DataFusion session.
    pub fn register(&self, ctx: &SessionContext) {
        ctx.register_object_store(&self.base, self.objects.clone());
    }

    /// The store as a listing table: the `audit` columns plus the partition columns. With
    /// `views`, strings are read as string views: no copy out of the Parquet pages, and the form
    /// the engine groups and compares fastest, but each value keeps its page buffer alive, so a
    /// run of many queries within a small memory budget reads plain strings.
    pub async fn table(
        &self,
        ctx: &SessionContext,
        views: bool,
    ) -> Result<Arc<ListingTable>, StoreError> {
        self.register(ctx);
        let opts = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(
                PARTITIONS
                    .iter()
                    .map(|p| (p.to_string(), DataType::Utf8))
                    .collect(),
            );
        let viewed: Vec<datafusion::arrow::datatypes::Field> = audit_schema()
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 if views => f.as_ref().clone().with_data_type(DataType::Utf8View),
                _ => f.as_ref().clone(),
            })
            .collect();
        let config = ListingTableConfig::new(self.url.clone())
            .with_listing_options(opts)
            .with_schema(Arc::new(datafusion::arrow::datatypes::Schema::new(viewed)));
        // every query of a report scans this table: one read of each file's statistics per run
        let table = ListingTable::try_new(config)?
            .with_cache(ctx.runtime_env().cache_manager.get_file_statistic_cache());
        Ok(Arc::new(table))
    }

    /// The clusters with data in the store (from the manifest).
    pub async fn clusters(&self) -> Result<Vec<String>, StoreError> {
        let m = self.manifest().await?;
        let mut c: Vec<String> = m.sources.values().map(|e| e.cluster.clone()).collect();
        c.sort();
        c.dedup();
        Ok(c)
    }
}

/// Which part of the store a command reads: clusters and a time window.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `--cluster-name` (empty: every cluster).
    pub clusters: Vec<String>,
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `YYYY-MM-DD` and `HH` of a time (µs since the epoch, UTC).
fn date_hour(us: i64) -> Option<(String, String)> {
    let t = chrono::DateTime::from_timestamp_micros(us)?;
    Some((t.format("%Y-%m-%d").to_string(), t.format("%H").to_string()))
}

/// Whether a time (µs since the epoch) is on the hour.
fn on_the_hour(us: i64) -> bool {
    us.rem_euclid(3_600_000_000) == 0
}

impl Selection {
    /// Whether the selection takes hour partitions whole (no time bounds, or bounds on the hour):
    /// then its rows are exactly those of its partitions.
    pub fn whole_hours(&self) -> bool {
        self.since_us.is_none_or(on_the_hour) && self.until_us.is_none_or(on_the_hour)
    }

    /// The `WHERE` clause over the store: partition filters (which DataFusion prunes files with)
    /// and the exact time filter.
    pub fn predicate(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.clusters.is_empty() {
            let list: Vec<String> = self.clusters.iter().map(|c| quote(c)).collect();
            parts.push(format!("cluster IN ({})", list.join(", ")));
        }
        if let Some((d, h)) = self.since_us.and_then(date_hour) {
            parts.push(format!(
                "(date > {} OR (date = {} AND hour >= {}))",
                quote(&d),
                quote(&d),
                quote(&h)
            ));
        }
        // the last microsecond before --until names the last hour partition it reaches
        if let Some((d, h)) = self.until_us.and_then(|u| date_hour(u.saturating_sub(1))) {
            parts.push(format!(
                "(date < {} OR (date = {} AND hour <= {}))",
                quote(&d),
                quote(&d),
                quote(&h)
            ));
        }
        // on whole hours the partition filters are exact: no row filter (and partial
        // aggregates computed per hour apply)
        if let Some(s) = self.since_us.filter(|s| !on_the_hour(*s)) {
            parts.push(format!(
                "request_received_ts >= to_timestamp_micros({s}) AT TIME ZONE 'UTC'"
            ));
        }
        if let Some(u) = self.until_us.filter(|u| !on_the_hour(*u)) {
            parts.push(format!(
                "request_received_ts < to_timestamp_micros({u}) AT TIME ZONE 'UTC'"
            ));
        }
        if parts.is_empty() {
            "true".into()
        } else {
            parts.join(" AND ")
        }
    }
}

/// Registers `audit` in `ctx` as the selected part of the store (with the `cluster` column);
/// `views`: strings as string views (see [`Store::table`]).
pub async fn register_audit(
    ctx: &SessionContext,
    store: &Store,
    sel: &Selection,
    views: bool,
) -> Result<(), StoreError> {
    let table = store.table(ctx, views).await?;
    ctx.register_table("audit_store", table)?;
    let cols: Vec<String> = crate::audit::schema::COLUMNS
        .iter()
        .map(|c| c.name.to_string())
        .chain(std::iter::once("cluster".to_string()))
        .collect();
    let sql = format!(
        "CREATE VIEW audit AS {}",
        crate::apf::udf::view_sql(
            ctx,
            &cols,
            &format!("audit_store WHERE {}", sel.predicate())
        )
    );
    ctx.sql(&sql).await?.collect().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;
    // 2026-11-02T00:00:00Z
    const MIDNIGHT: i64 = 1_793_577_600_000_000;

    #[test]
    fn whole_hours_need_no_row_filter_and_until_is_exclusive() {
        let whole = Selection {
            clusters: vec![],
            since_us: Some(MIDNIGHT - HOUR),
            until_us: Some(MIDNIGHT),
        };
        assert!(whole.whole_hours());
        let p = whole.predicate();
        assert!(!p.contains("request_received_ts"), "{p}");
        // --until 00:00 ends with hour 23 of the day before
        assert!(
            p.contains("hour <= '23'") && p.contains("date = '2026-11-01'"),
            "{p}"
        );
        assert!(!p.contains("'2026-11-02'"), "{p}");
        let cut = Selection {
            until_us: Some(MIDNIGHT + 90_000_000),
            ..whole.clone()
        };
        assert!(!cut.whole_hours());
        let p = cut.predicate();
        assert!(p.contains("request_received_ts <"), "{p}");
        assert!(p.contains("hour <= '00'"), "{p}");
        assert!(Selection::default().whole_hours());
        assert_eq!(Selection::default().predicate(), "true");
    }
}
