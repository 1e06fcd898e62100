//! The estimator in DataFusion: `kscope_apf(...)`, a scalar function over the request columns of
//! `audit` returning the derived columns as one struct, the `audit` view that adds them to the
//! table of events, and `kscope_apf_levels`, the priority levels with their seats.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, Int64Builder, ListArray, StringArray, StringBuilder,
    StructArray, UInt32Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::config::Request;
use super::estimate::{Line, Req};
use super::{DERIVED, Pricing};

/// The table of events the `audit` view reads.
pub const EVENTS: &str = "audit_events";
pub const FUNCTION: &str = "kscope_apf";
pub const LEVELS: &str = "kscope_apf_levels";

/// The request columns the function reads, in argument order.
pub const INPUTS: &[&str] = &[
    "user_name",
    "user_groups",
    "impersonated_user",
    "verb",
    "api_group",
    "resource",
    "subresource",
    "namespace",
    "list_limit",
    "continue_token",
    "resource_version",
    "resource_version_match",
    "label_selector",
    "field_selector",
    "request_uri",
];

#[derive(Debug)]
struct ApfFunction {
    pricing: Arc<Pricing>,
    signature: Signature,
}

impl PartialEq for ApfFunction {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.pricing, &other.pricing)
    }
}
impl Eq for ApfFunction {}
impl std::hash::Hash for ApfFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        FUNCTION.hash(state);
    }
}

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("flow_schema", DataType::Utf8, true),
        Field::new("priority_level", DataType::Utf8, true),
        Field::new("est_seats", DataType::Int64, true),
        Field::new("served_from", DataType::Utf8, true),
        Field::new("est_objects", DataType::Int64, true),
        Field::new("est_seats_paged", DataType::Int64, true),
        Field::new("est_seats_cached", DataType::Int64, true),
    ])
}

fn strings(a: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let arr = a.to_array(rows)?;
    let arr = if arr.data_type() == &DataType::Utf8 {
        arr
    } else {
        cast(&arr, &DataType::Utf8)?
    };
    arr.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal(format!("{FUNCTION}: not a string column")))
}

fn ints(a: &ColumnarValue, rows: usize) -> Result<Int64Array> {
    let arr = cast(&a.to_array(rows)?, &DataType::Int64)?;
    arr.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal(format!("{FUNCTION}: not an integer column")))
}

fn opt(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i))
}

impl ScalarUDFImpl for ApfFunction {
    fn name(&self) -> &str {
        FUNCTION
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        if a.len() != INPUTS.len() {
            return Err(DataFusionError::Plan(format!(
                "{FUNCTION} takes {} arguments",
                INPUTS.len()
            )));
        }
        let s = |i: usize| strings(&a[i], rows);
        let (user, imp, verb, group, resource, sub, ns) =
            (s(0)?, s(2)?, s(3)?, s(4)?, s(5)?, s(6)?, s(7)?);
        let (cont, rv, rvm, ls, fs, uri) = (s(9)?, s(10)?, s(11)?, s(12)?, s(13)?, s(14)?);
        let limit = ints(&a[8], rows)?;
        // a non-resource request's path: its URI without the query
        let path_of = |i: usize| {
            opt(&uri, i)
                .map(|u| u.split_once('?').map_or(u, |(p, _)| p))
                .unwrap_or_default()
        };
        let groups_arr = a[1].to_array(rows)?;
        let groups_arr = if let DataType::List(_) = groups_arr.data_type() {
            cast(
                &groups_arr,
                &DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            )?
        } else {
            groups_arr
        };
        let groups = groups_arr.as_any().downcast_ref::<ListArray>();
        let group_values = groups.and_then(|l| l.values().as_any().downcast_ref::<StringArray>());
        // the groups of row i, borrowed from the list's values
        let groups_of = |i: usize| -> Vec<&str> {
            match (groups, group_values) {
                (Some(l), Some(v)) if !l.is_null(i) => {
                    let o = l.value_offsets();
                    (o[i] as usize..o[i + 1] as usize)
                        .filter(|j| !v.is_null(*j))
                        .map(|j| v.value(j))
                        .collect()
                }
                _ => Vec::new(),
            }
        };
        let line = Line::of(self.pricing.version().0);

        let mut flow = StringBuilder::new();
        let mut level = StringBuilder::new();
        let mut seats = Int64Builder::new();
        let mut served = StringBuilder::new();
        let mut objects = Int64Builder::new();
        let mut paged = Int64Builder::new();
        let mut cached = Int64Builder::new();
        // the FlowSchema depends on few values, which repeat: classified once per batch, keyed
        // by a hash of those values (computed without allocating)
        let mut classified: HashMap<u64, Option<usize>> = HashMap::new();
        for i in 0..rows {
            let res = opt(&resource, i).filter(|r| !r.is_empty());
            let impersonated = opt(&imp, i).filter(|x| !x.is_empty());
            let who_user = impersonated.or(opt(&user, i)).unwrap_or_default();
            let place = if res.is_some() {
                opt(&ns, i).unwrap_or_default()
            } else {
                path_of(i)
            };
            let mut h = std::hash::DefaultHasher::new();
            {
                use std::hash::Hash;
                who_user.hash(&mut h);
                opt(&verb, i).hash(&mut h);
                opt(&group, i).hash(&mut h);
                res.hash(&mut h);
                opt(&sub, i).hash(&mut h);
                place.hash(&mut h);
                if impersonated.is_none() {
                    if let (Some(l), Some(v)) = (groups, group_values) {
                        if !l.is_null(i) {
                            let o = l.value_offsets();
                            for j in o[i] as usize..o[i + 1] as usize {
                                (!v.is_null(j)).then(|| v.value(j)).hash(&mut h);
                            }
                        }
                    }
                }
            }
            let key = std::hash::Hasher::finish(&h);
            let flow_index = match classified.get(&key) {
                Some(f) => *f,
                None => {
                    // APF sees the impersonated user (it runs after impersonation); the
                    // impersonated groups are not in the event
                    let mut all = if impersonated.is_some() {
                        Vec::new()
                    } else {
                        groups_of(i)
                    };
                    let sa_ns = super::config::implied_groups(who_user, &mut all);
                    let sa_group = sa_ns.map(|ns| format!("system:serviceaccounts:{ns}"));
                    if let Some(g) = &sa_group {
                        all.push(g);
                    }
                    let who = Request {
                        user: who_user,
                        groups: &all,
                        verb: opt(&verb, i).unwrap_or_default(),
                        resource: res,
                        subresource: opt(&sub, i),
                        api_group: opt(&group, i).unwrap_or_default(),
                        namespace: opt(&ns, i),
                        path: path_of(i),
                    };
                    let f = self
                        .pricing
                        .config
                        .flows
                        .iter()
                        .position(|f| f.matches(&who));
                    classified.insert(key, f);
                    f
                }
            };
            let req = Req {
                verb: opt(&verb, i).unwrap_or_default(),
                api_group: opt(&group, i).unwrap_or_default(),
                resource: res,
                // a LIST of one object names it in a fieldSelector (the audit event's
                // objectRef.name comes from it); other requests with a name cost 1 seat anyway
                name: None,
                limit: (!limit.is_null(i)).then(|| limit.value(i)),
                continue_token: opt(&cont, i).is_some_and(|c| !c.is_empty()),
                resource_version: opt(&rv, i),
                resource_version_match: opt(&rvm, i),
                label_selector: opt(&ls, i).is_some_and(|x| !x.is_empty()),
                field_selector: opt(&fs, i),
                send_initial_events: opt(&uri, i)
                    .is_some_and(|u| u.contains("sendInitialEvents=true")),
            };
            let p = self.pricing.price_in(flow_index, &req, line);
            flow.append_option(p.flow_schema);
            level.append_option(p.priority_level);
            seats.append_option(p.seats.map(i64::from));
            served.append_option(p.served_from);
            objects.append_option(p.objects.map(|o| o as i64));
            paged.append_option(p.seats_paged.map(i64::from));
            cached.append_option(p.seats_cached.map(i64::from));
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(flow.finish()),
            Arc::new(level.finish()),
            Arc::new(seats.finish()),
            Arc::new(served.finish()),
            Arc::new(objects.finish()),
            Arc::new(paged.finish()),
            Arc::new(cached.finish()),
        ];
        Ok(ColumnarValue::Array(Arc::new(StructArray::try_new(
            fields(),
            cols,
            None,
        )?)))
    }
}

/// Registers the function and the levels table of `pricing` in `ctx`.
pub fn register(ctx: &SessionContext, pricing: Arc<Pricing>) -> Result<()> {
    let levels = levels_batch(&pricing)?;
    ctx.register_udf(ScalarUDF::from(ApfFunction {
        pricing,
        signature: Signature::variadic_any(Volatility::Immutable),
    }));
    let mem = datafusion::datasource::MemTable::try_new(levels.schema(), vec![vec![levels]])?;
    let _ = ctx.deregister_table(LEVELS)?;
    ctx.register_table(LEVELS, Arc::new(mem))?;
    Ok(())
}

/// The `SELECT` of the `audit` view over `from` (a table, with its `WHERE`) whose columns are
/// `columns`: every column, plus the derived ones when the function is registered and the table
/// has every input (else NULL: unknown). The function runs once per row in an inner query; the
/// outer one only takes the fields apart.
pub fn view_sql(ctx: &SessionContext, columns: &[String], from: &str) -> String {
    let cols: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let priced = ctx.udf(FUNCTION).is_ok() && INPUTS.iter().all(|i| columns.iter().any(|c| c == i));
    let mut outer = cols.clone();
    for (name, _) in DERIVED {
        outer.push(if priced {
            format!("get_field(kscope_priced, '{name}') AS {name}")
        } else {
            // unknown where the estimate cannot run (a remote engine)
            let t = if name.starts_with("est_") {
                "BIGINT"
            } else {
                "VARCHAR"
            };
            format!("CAST(NULL AS {t}) AS {name}")
        });
    }
    if priced {
        format!(
            "SELECT {} FROM (SELECT {}, {FUNCTION}({}) AS kscope_priced FROM {from})",
            outer.join(", "),
            cols.join(", "),
            INPUTS.join(", ")
        )
    } else {
        format!("SELECT {} FROM {from}", outer.join(", "))
    }
}

/// Registers `provider` as the table of events and `audit` as the view over it.
pub async fn register_audit(
    ctx: &SessionContext,
    provider: Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<()> {
    let cols: Vec<String> = provider
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    ctx.deregister_table(EVENTS)?;
    ctx.deregister_table("audit")?;
    ctx.register_table(EVENTS, provider)?;
    let sql = format!("CREATE VIEW audit AS {}", view_sql(ctx, &cols, EVENTS));
    ctx.sql(&sql).await?.collect().await?;
    Ok(())
}

/// The priority levels with their seats (`kscope_apf_levels`).
fn levels_batch(p: &Pricing) -> Result<RecordBatch> {
    let levels: Vec<_> = p.config.levels.values().collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("priority_level", DataType::Utf8, false),
        Field::new("exempt", DataType::Boolean, false),
        Field::new("nominal_seats", DataType::UInt32, false),
        Field::new("lendable_seats", DataType::UInt32, false),
        Field::new("borrowing_limit_seats", DataType::UInt32, false),
        Field::new("max_seats_per_request", DataType::UInt32, false),
    ]));
    let total = p.total_seats;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            levels.iter().map(|l| l.name.as_str()),
        )),
        Arc::new(BooleanArray::from(
            levels.iter().map(|l| l.exempt).collect::<Vec<_>>(),
        )),
        Arc::new(UInt32Array::from_iter_values(
            levels.iter().map(|l| l.nominal),
        )),
        Arc::new(UInt32Array::from_iter_values(levels.iter().map(|l| {
            (f64::from(l.nominal) * l.lendable_percent / 100.0).round() as u32
        }))),
        Arc::new(UInt32Array::from_iter_values(levels.iter().map(|l| {
            l.borrowing_limit_percent
                .map_or(total, |b| (f64::from(l.nominal) * b / 100.0).round() as u32)
        }))),
        Arc::new(UInt32Array::from_iter_values(
            levels.iter().map(|l| p.level_max(&l.name)),
        )),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

/// Sets the server's version from the log when nothing else did: the version in the user agent of
/// kube-apiserver's own requests (`kube-apiserver/v1.30.4 ...`).
pub async fn detect_version(ctx: &SessionContext, pricing: &Pricing) {
    if pricing.version_known() {
        return;
    }
    let sql = "SELECT user_agent FROM audit WHERE user_agent LIKE 'kube-apiserver/v%' LIMIT 1";
    let Ok(df) = ctx.sql(sql).await else { return };
    let Ok(batches) = df.collect().await else {
        return;
    };
    let ua = batches.first().and_then(|b| {
        let c = cast(b.column(0), &DataType::Utf8).ok()?;
        let c = c.as_any().downcast_ref::<StringArray>()?;
        (c.len() > 0 && !c.is_null(0)).then(|| c.value(0).to_string())
    });
    if let Some(v) = ua
        .as_deref()
        .and_then(|u| u.strip_prefix("kube-apiserver/v"))
        .and_then(|rest| crate::inventory::Version::parse(rest.split([' ', '-', '+']).next()?))
    {
        pricing.version_found(v, "the log's kube-apiserver user agent");
    }
}

/// Whether a query's SQL names the estimate's columns (`served_from` aside: queries also use the
/// name for their own classification, as AUD014 does).
pub fn uses_estimate(sql: &str) -> bool {
    DERIVED
        .iter()
        .filter(|(name, _)| *name != "served_from")
        .any(|(name, _)| sql.contains(name))
        || sql.contains(LEVELS)
}

/// Whether a query needs the local engine: it reads the priority levels' seats, a table of the
/// local session (on a remote engine the estimate's columns are NULL, unknown).
pub fn local_only(sql: &str) -> bool {
    sql.contains(LEVELS)
}

/// Computes the estimate once for every request of the table of events and registers the result
/// as `audit`: a report whose queries read the estimate pays for one pass, not one per query and
/// column. In memory (`spill` none) the events' columns are shared, not copied, and the derived ones
/// are the fields of the one struct the function returns; when the events were spilled to disk,
/// the priced rows are written beside them as Parquet (the struct as one column), streaming, so
/// memory stays within the budget, and `audit` reads them from there.
pub async fn materialize(ctx: &SessionContext, spill: Option<&std::path::Path>) -> Result<()> {
    let events = ctx.table(EVENTS).await?;
    let columns: Vec<String> = events
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    if ctx.udf(FUNCTION).is_err() || !INPUTS.iter().all(|i| columns.contains(&i.to_string())) {
        return Ok(());
    }
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let df = ctx
        .sql(&format!(
            "SELECT {}, {FUNCTION}({}) AS kscope_priced FROM {EVENTS}",
            quoted.join(", "),
            INPUTS.join(", ")
        ))
        .await?;
    if let Some(dir) = spill {
        let url = format!("{}/", dir.display());
        df.write_parquet(
            &url,
            datafusion::dataframe::DataFrameWriteOptions::new(),
            None,
        )
        .await?;
        let priced = ctx
            .read_parquet(url, datafusion::prelude::ParquetReadOptions::default())
            .await?
            .into_view();
        ctx.register_table("kscope_priced_events", priced)?;
        let mut outer = quoted.clone();
        for (name, _) in DERIVED {
            outer.push(format!("get_field(kscope_priced, '{name}') AS {name}"));
        }
        ctx.deregister_table("audit")?;
        ctx.sql(&format!(
            "CREATE VIEW audit AS SELECT {} FROM kscope_priced_events",
            outer.join(", ")
        ))
        .await?
        .collect()
        .await?;
        return Ok(());
    }
    let parts = df.collect_partitioned().await?;
    let mut fields: Vec<Field> = events
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(self::fields().iter().map(|f| f.as_ref().clone()));
    let schema = Arc::new(Schema::new(fields));
    let n = columns.len();
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let mut batches = Vec::with_capacity(part.len());
        for b in part {
            let priced = b
                .column(n)
                .as_any()
                .downcast_ref::<StructArray>()
                .ok_or_else(|| DataFusionError::Internal(format!("{FUNCTION}: not a struct")))?;
            let mut cols: Vec<ArrayRef> = b.columns()[..n].to_vec();
            cols.extend(priced.columns().iter().cloned());
            batches.push(RecordBatch::try_new(schema.clone(), cols)?);
        }
        out.push(batches);
    }
    let mem = datafusion::datasource::MemTable::try_new(schema, out)?;
    ctx.deregister_table("audit")?;
    ctx.register_table("audit", Arc::new(mem))?;
    Ok(())
}
