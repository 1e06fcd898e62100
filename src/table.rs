//! Query results as plain rows of JSON values: what renderers and findings read.

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn from_batches(
        schema: &datafusion::arrow::datatypes::Schema,
        batches: &[RecordBatch],
    ) -> Table {
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                rows.push(b.columns().iter().map(|a| cell(a.as_ref(), r)).collect());
            }
        }
        Table { columns, rows }
    }

    /// A cell as text: strings bare, NULL empty, whole floats without `.0`.
    pub fn display(&self, row: usize, col: usize) -> String {
        match self.rows.get(row).and_then(|r| r.get(col)) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                    format!("{}", f as i64)
                }
                _ => n.to_string(),
            },
            Some(v) => v.to_string(),
        }
    }
}

fn ts_string(v: i64, unit: &TimeUnit) -> Value {
    let micros = match unit {
        TimeUnit::Second => v.saturating_mul(1_000_000),
        TimeUnit::Millisecond => v.saturating_mul(1_000),
        TimeUnit::Microsecond => v,
        TimeUnit::Nanosecond => v / 1_000,
    };
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => Value::String(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()),
        None => Value::Null,
    }
}

/// One cell as a JSON value (numbers stay numbers, timestamps become RFC 3339 strings).
pub fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    macro_rules! num {
        ($t:ty) => {
            a.as_any()
                .downcast_ref::<$t>()
                .map(|x| Value::from(x.value(i)))
        };
    }
    let v = match a.data_type() {
        DataType::Int8 => num!(Int8Array),
        DataType::Int16 => num!(Int16Array),
        DataType::Int32 => num!(Int32Array),
        DataType::Int64 => num!(Int64Array),
        DataType::UInt8 => num!(UInt8Array),
        DataType::UInt16 => num!(UInt16Array),
        DataType::UInt32 => num!(UInt32Array),
        DataType::UInt64 => num!(UInt64Array),
        DataType::Float32 => a
            .as_any()
            .downcast_ref::<Float32Array>()
            .map(|x| float(x.value(i) as f64)),
        DataType::Float64 => a
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|x| float(x.value(i))),
        DataType::Boolean => a
            .as_any()
            .downcast_ref::<BooleanArray>()
            .map(|x| Value::Bool(x.value(i))),
        DataType::Utf8 => Some(Value::String(a.as_string::<i32>().value(i).to_string())),
        DataType::LargeUtf8 => Some(Value::String(a.as_string::<i64>().value(i).to_string())),
        DataType::Utf8View => Some(Value::String(a.as_string_view().value(i).to_string())),
        DataType::List(_) => a.as_list_opt::<i32>().map(|l| {
            let items = l.value(i);
            Value::Array((0..items.len()).map(|j| cell(items.as_ref(), j)).collect())
        }),
        DataType::Map(_, _) => a.as_map_opt().map(|m| {
            let entries = m.value(i);
            let (k, v) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|j| {
                        let key = match cell(k.as_ref(), j) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, cell(v.as_ref(), j))
                    })
                    .collect(),
            )
        }),
        DataType::Timestamp(unit, _) => {
            let raw = match unit {
                TimeUnit::Second => a
                    .as_primitive_opt::<datafusion::arrow::datatypes::TimestampSecondType>()
                    .map(|x| x.value(i)),
                TimeUnit::Millisecond => a
                    .as_primitive_opt::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                    .map(|x| x.value(i)),
                TimeUnit::Microsecond => a
                    .as_primitive_opt::<datafusion::arrow::datatypes::TimestampMicrosecondType>()
                    .map(|x| x.value(i)),
                TimeUnit::Nanosecond => a
                    .as_primitive_opt::<datafusion::arrow::datatypes::TimestampNanosecondType>()
                    .map(|x| x.value(i)),
            };
            raw.map(|v| ts_string(v, unit))
        }
        _ => None,
    };
    v.unwrap_or_else(|| {
        let opts = FormatOptions::default();
        match ArrayFormatter::try_new(a, &opts) {
            Ok(f) => Value::String(f.value(i).to_string()),
            Err(_) => Value::Null,
        }
    })
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}
