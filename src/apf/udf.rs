//! The estimator in DataFusion: `kscope_apf(...)`, a scalar function over the request columns of
//! `audit` returning the derived columns as one struct, the `audit` view that adds them to the
//! table of events, and `kscope_apf_levels`, the priority levels with their seats.

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
    "name",
    "path",
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
        let (user, imp, verb, group, resource, sub, ns, name, path) = (
            s(0)?,
            s(2)?,
            s(3)?,
            s(4)?,
            s(5)?,
            s(6)?,
            s(7)?,
            s(8)?,
            s(9)?,
        );
        let (cont, rv, rvm, ls, fs, uri) = (s(11)?, s(12)?, s(13)?, s(14)?, s(15)?, s(16)?);
        let limit = ints(&a[10], rows)?;
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
        let line = Line::of(self.pricing.version().0);

        let mut flow = StringBuilder::new();
        let mut level = StringBuilder::new();
        let mut seats = Int64Builder::new();
        let mut served = StringBuilder::new();
        let mut objects = Int64Builder::new();
        let mut paged = Int64Builder::new();
        let mut cached = Int64Builder::new();
        for i in 0..rows {
            let group_list: Vec<String> = match groups {
                Some(l) if !l.is_null(i) => {
                    let v = l.value(i);
                    let v = v.as_any().downcast_ref::<StringArray>();
                    v.map(|v| {
                        (0..v.len())
                            .filter(|j| !v.is_null(*j))
                            .map(|j| v.value(j).to_string())
                            .collect()
                    })
                    .unwrap_or_default()
                }
                _ => Vec::new(),
            };
            // APF sees the impersonated user (it runs after impersonation), who gets
            // system:authenticated; the impersonated groups are not in the event
            let (u, mut gs): (&str, Vec<&str>) = match opt(&imp, i).filter(|x| !x.is_empty()) {
                Some(x) => (x, Vec::new()),
                None => (
                    opt(&user, i).unwrap_or_default(),
                    group_list.iter().map(String::as_str).collect(),
                ),
            };
            let sa_ns = super::config::implied_groups(u, &mut gs);
            let sa_groups: Vec<String> = sa_ns
                .map(|ns| vec![format!("system:serviceaccounts:{ns}")])
                .unwrap_or_default();
            gs.extend(sa_groups.iter().map(String::as_str));
            let res = opt(&resource, i).filter(|r| !r.is_empty());
            let who = Request {
                user: u,
                groups: &gs,
                verb: opt(&verb, i).unwrap_or_default(),
                resource: res,
                subresource: opt(&sub, i),
                api_group: opt(&group, i).unwrap_or_default(),
                namespace: opt(&ns, i),
                path: opt(&path, i).unwrap_or_default(),
            };
            let req = Req {
                verb: who.verb,
                api_group: who.api_group,
                resource: res,
                name: opt(&name, i),
                limit: (!limit.is_null(i)).then(|| limit.value(i)),
                continue_token: opt(&cont, i).is_some_and(|c| !c.is_empty()),
                resource_version: opt(&rv, i),
                resource_version_match: opt(&rvm, i),
                label_selector: opt(&ls, i).is_some_and(|x| !x.is_empty()),
                field_selector: opt(&fs, i),
                send_initial_events: opt(&uri, i)
                    .is_some_and(|u| u.contains("sendInitialEvents=true")),
            };
            let p = self.pricing.price(&who, &req, line);
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

/// `SELECT` list of the `audit` view over a table with `columns`: every column, plus the derived
/// ones when the function is registered and the table has every input.
pub fn view_select(ctx: &SessionContext, columns: &[String]) -> String {
    let mut sel: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let priced = ctx.udf(FUNCTION).is_ok() && INPUTS.iter().all(|i| columns.iter().any(|c| c == i));
    let call = format!("{FUNCTION}({})", INPUTS.join(", "));
    for (name, _) in DERIVED {
        sel.push(if priced {
            format!("get_field({call}, '{name}') AS {name}")
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
    sel.join(", ")
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
    let sql = format!(
        "CREATE VIEW audit AS SELECT {} FROM {EVENTS}",
        view_select(ctx, &cols)
    );
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
