//! Declared column types, their Arrow form, and the Hive names catalogs use.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// The time zone every timestamp is stored in: UTC, so Athena and Spark read the same instant.
pub const UTC: &str = "UTC";

/// A column type a job can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text.
    String,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Fixed-point decimal with precision (1 to 38) and scale.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// true/false.
    Boolean,
    /// An instant, stored as microseconds in UTC.
    Timestamp,
    /// A calendar date.
    Date,
}

/// The type names a job file may use, for error messages.
pub const TYPE_NAMES: &str =
    "string, int32, int64, float64, decimal(p,s), boolean, timestamp, date";

impl FromStr for ColumnType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let simple = match lower.as_str() {
            "string" | "text" | "varchar" => Some(ColumnType::String),
            "int" | "int32" | "integer" => Some(ColumnType::Int32),
            "bigint" | "int64" | "long" => Some(ColumnType::Int64),
            "double" | "float64" => Some(ColumnType::Float64),
            "bool" | "boolean" => Some(ColumnType::Boolean),
            "timestamp" => Some(ColumnType::Timestamp),
            "date" => Some(ColumnType::Date),
            _ => None,
        };
        if let Some(simple) = simple {
            return Ok(simple);
        }
        let unknown = || format!("unknown type '{text}'; expected one of {TYPE_NAMES}");
        let inner = lower
            .strip_prefix("decimal(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(unknown)?;
        let (precision, scale) = inner.split_once(',').ok_or_else(unknown)?;
        let precision: u8 = precision.trim().parse().map_err(|_| unknown())?;
        let scale: i8 = scale.trim().parse().map_err(|_| unknown())?;
        if !(1..=38).contains(&precision) || scale < 0 || scale as u8 > precision {
            return Err(format!(
                "decimal({precision},{scale}) is out of range: precision 1 to 38, scale 0 to precision"
            ));
        }
        Ok(ColumnType::Decimal { precision, scale })
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnType::String => f.write_str("string"),
            ColumnType::Int32 => f.write_str("int32"),
            ColumnType::Int64 => f.write_str("int64"),
            ColumnType::Float64 => f.write_str("float64"),
            ColumnType::Decimal { precision, scale } => write!(f, "decimal({precision},{scale})"),
            ColumnType::Boolean => f.write_str("boolean"),
            ColumnType::Timestamp => f.write_str("timestamp"),
            ColumnType::Date => f.write_str("date"),
        }
    }
}

impl ColumnType {
    /// The Arrow type the column is read into.
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::String => DataType::Utf8,
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Timestamp => timestamp_type(),
            ColumnType::Date => DataType::Date32,
        }
    }
}

/// The Arrow type of every timestamp lakejob writes.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
}

/// The Hive type name of an Arrow type (what Glue and Athena expect), lower case.
pub fn hive_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 | DataType::UInt16 => "int".into(),
        DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "binary".into(),
        DataType::List(field) | DataType::LargeList(field) => {
            format!("array<{}>", hive_type(field.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}:{}", f.name().to_lowercase(), hive_type(f.data_type())))
                .collect();
            format!("struct<{}>", inner.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                hive_type(kv[0].data_type()),
                hive_type(kv[1].data_type())
            ),
            _ => "string".into(),
        },
        _ => "string".into(),
    }
}

/// The Arrow type of a simple Hive type name (used for partition columns), if it is one.
pub fn arrow_type_of_hive(hive: &str) -> Option<DataType> {
    match hive {
        "string" => Some(DataType::Utf8),
        "tinyint" => Some(DataType::Int8),
        "smallint" => Some(DataType::Int16),
        "int" => Some(DataType::Int32),
        "bigint" => Some(DataType::Int64),
        "double" => Some(DataType::Float64),
        "boolean" => Some(DataType::Boolean),
        "date" => Some(DataType::Date32),
        "timestamp" => Some(timestamp_type()),
        other => other.parse::<ColumnType>().ok().map(ColumnType::arrow_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declared_types() {
        assert_eq!(
            "decimal(12, 2)".parse::<ColumnType>(),
            Ok(ColumnType::Decimal {
                precision: 12,
                scale: 2
            })
        );
        assert_eq!("INT64".parse::<ColumnType>(), Ok(ColumnType::Int64));
        assert!("decimal(40,2)".parse::<ColumnType>().is_err());
        let error = "decimel(12,2)"
            .parse::<ColumnType>()
            .err()
            .unwrap_or_default();
        assert!(error.contains("unknown type 'decimel(12,2)'"), "{error}");
    }

    #[test]
    fn maps_to_hive_and_back() {
        for ty in [
            "string",
            "int",
            "bigint",
            "double",
            "boolean",
            "date",
            "timestamp",
            "decimal(12,2)",
        ] {
            let arrow = arrow_type_of_hive(ty);
            assert!(arrow.is_some(), "{ty}");
            assert_eq!(arrow.map(|a| hive_type(&a)).as_deref(), Some(ty));
        }
    }
}
