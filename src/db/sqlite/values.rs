//! Values between sea-orm and SQLite.
//!
//! Parameters: every kind SQLite stores (`INTEGER`, `REAL`, `TEXT`, `BLOB`, `NULL`) binds as
//! itself, booleans as 0 and 1; a kind it does not (a `char`, JSON, a `u64` past `i64`) is
//! left to the pool, which reports it as it always has.
//!
//! Columns: SQLite stores a value with its own storage class, whatever the column's declared
//! type, so a `NULL` alone does not say what it would have been. sea-orm reads a row by the
//! type its model asks for, and needs a `NULL` typed to match. The type comes from the
//! column's declared type, by SQLite's own rules for a column's affinity
//! (<https://www.sqlite.org/datatype3.html#determination_of_column_affinity>), plus one of
//! ours: the migrations declare booleans `boolean`, stored as 0 and 1 (NUMERIC affinity
//! to SQLite), which read back as `bool`. The migrations declare only `bigint`, `varchar`,
//! `text` and `boolean`; the other rules are SQLite's, stated whole so that a type a later
//! migration declares reads as SQLite itself would type it.

use rusqlite::types::{Value as Lite, ValueRef};
use sea_orm::Value;

/// A bound parameter, or `None` for a kind this path leaves to the pool.
pub(super) fn to_sqlite(value: &Value) -> Option<Lite> {
    Some(match value {
        Value::Bool(v) => v.map_or(Lite::Null, |b| Lite::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::SmallInt(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::Int(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::BigInt(v) => v.map_or(Lite::Null, Lite::Integer),
        Value::TinyUnsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::SmallUnsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        Value::Unsigned(v) => v.map_or(Lite::Null, |n| Lite::Integer(n.into())),
        // `LIMIT 1` of every `.one()`.
        Value::BigUnsigned(v) => match v {
            Some(n) => Lite::Integer(i64::try_from(*n).ok()?),
            None => Lite::Null,
        },
        Value::Double(v) => v.map_or(Lite::Null, Lite::Real),
        Value::String(v) => v.as_ref().map_or(Lite::Null, |s| Lite::Text(s.to_string())),
        Value::Bytes(v) => v.as_ref().map_or(Lite::Null, |b| Lite::Blob(b.to_vec())),
        _ => return None,
    })
}

/// A column's affinity, from its declared type, by SQLite's rules in their order
/// (section 3.1 of "Datatypes In SQLite").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    pub(super) fn of(declared: &str) -> Self {
        let has = |needle: &str| {
            declared
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        };
        if has("INT") {
            Self::Integer
        } else if has("CHAR") || has("CLOB") || has("TEXT") {
            Self::Text
        } else if has("BLOB") || declared.trim().is_empty() {
            Self::Blob
        } else if has("REAL") || has("FLOA") || has("DOUB") {
            Self::Real
        } else {
            Self::Numeric
        }
    }
}

/// What a column reads as: its declared type's affinity, or one of the migrations' booleans.
/// A result column that is an expression has no declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Column {
    Declared(Affinity),
    Boolean,
    Expression,
}

impl Column {
    pub(super) fn of(declared: Option<&str>) -> Self {
        match declared {
            None => Self::Expression,
            Some(declared) if declared.trim().eq_ignore_ascii_case("boolean") => Self::Boolean,
            Some(declared) => Self::Declared(Affinity::of(declared)),
        }
    }

    /// A `NULL` of this column, typed as sea-orm reads that type from the pool. An
    /// expression's `NULL` is an integer's: every expression the store selects is a count or
    /// a flag (see `store::flag`).
    fn null(self) -> Value {
        match self {
            Self::Boolean => Value::Bool(None),
            Self::Declared(Affinity::Text) => Value::String(None),
            Self::Declared(Affinity::Blob) => Value::Bytes(None),
            Self::Declared(Affinity::Real) => Value::Double(None),
            Self::Declared(Affinity::Integer | Affinity::Numeric) | Self::Expression => {
                Value::BigInt(None)
            }
        }
    }
}

/// A column's value as sea-orm expects it from a row: the value's own storage class, but a
/// `NULL` typed by the column, and an integer in a boolean column as a `bool`.
pub(super) fn from_sqlite(value: ValueRef<'_>, column: Column) -> rusqlite::Result<Value> {
    Ok(match value {
        ValueRef::Null => column.null(),
        ValueRef::Integer(n) if column == Column::Boolean => Value::Bool(Some(n != 0)),
        ValueRef::Integer(n) => Value::BigInt(Some(n)),
        ValueRef::Real(x) => Value::Double(Some(x)),
        ValueRef::Text(bytes) => Value::String(Some(Box::new(
            std::str::from_utf8(bytes)
                .map_err(rusqlite::Error::Utf8Error)?
                .to_owned(),
        ))),
        ValueRef::Blob(bytes) => Value::Bytes(Some(Box::new(bytes.to_vec()))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's examples of each rule (section 3.1.1), and the types the migrations declare.
    #[test]
    fn a_declared_type_with_int_has_integer_affinity() {
        for declared in [
            "INT",
            "INTEGER",
            "TINYINT",
            "BIGINT",
            "UNSIGNED BIG INT",
            "INT2",
            "INT8",
            "bigint",
            // Rule 1 comes first: "CHARINT" has INT, and "POINT" too.
            "CHARINT",
            "FLOATING POINT",
        ] {
            assert_eq!(Affinity::of(declared), Affinity::Integer, "{declared}");
        }
    }

    #[test]
    fn a_declared_type_with_char_clob_or_text_has_text_affinity() {
        for declared in [
            "CHARACTER(20)",
            "VARCHAR(255)",
            "VARYING CHARACTER(255)",
            "NCHAR(55)",
            "NATIVE CHARACTER(70)",
            "NVARCHAR(100)",
            "TEXT",
            "CLOB",
            "varchar",
            "text",
        ] {
            assert_eq!(Affinity::of(declared), Affinity::Text, "{declared}");
        }
    }

    #[test]
    fn a_declared_type_with_blob_or_none_has_blob_affinity() {
        for declared in ["BLOB", "blob", "", " "] {
            assert_eq!(Affinity::of(declared), Affinity::Blob, "{declared:?}");
        }
    }

    #[test]
    fn a_declared_type_with_real_floa_or_doub_has_real_affinity() {
        for declared in ["REAL", "DOUBLE", "DOUBLE PRECISION", "FLOAT", "double"] {
            assert_eq!(Affinity::of(declared), Affinity::Real, "{declared}");
        }
    }

    #[test]
    fn any_other_declared_type_has_numeric_affinity() {
        // "STRING" is SQLite's own warning: NUMERIC, not TEXT.
        for declared in [
            "NUMERIC",
            "DECIMAL(10,5)",
            "BOOLEAN",
            "DATE",
            "DATETIME",
            "STRING",
        ] {
            assert_eq!(Affinity::of(declared), Affinity::Numeric, "{declared}");
        }
    }

    #[test]
    fn the_migrations_booleans_read_as_bool() {
        assert_eq!(Column::of(Some("boolean")), Column::Boolean);
        assert_eq!(Column::of(Some("BOOLEAN")), Column::Boolean);
        assert_eq!(
            from_sqlite(ValueRef::Integer(1), Column::Boolean).unwrap(),
            Value::Bool(Some(true))
        );
        assert_eq!(
            from_sqlite(ValueRef::Integer(0), Column::Boolean).unwrap(),
            Value::Bool(Some(false))
        );
        assert_eq!(
            from_sqlite(ValueRef::Null, Column::Boolean).unwrap(),
            Value::Bool(None)
        );
    }

    #[test]
    fn a_null_is_typed_by_its_column() {
        let null = |declared: Option<&str>| from_sqlite(ValueRef::Null, Column::of(declared));
        assert_eq!(null(Some("bigint")).unwrap(), Value::BigInt(None));
        assert_eq!(null(Some("varchar")).unwrap(), Value::String(None));
        assert_eq!(null(Some("text")).unwrap(), Value::String(None));
        assert_eq!(null(Some("blob")).unwrap(), Value::Bytes(None));
        assert_eq!(null(Some("double")).unwrap(), Value::Double(None));
        assert_eq!(null(Some("numeric")).unwrap(), Value::BigInt(None));
        // An expression: a count or a flag.
        assert_eq!(null(None).unwrap(), Value::BigInt(None));
    }

    #[test]
    fn a_value_keeps_its_storage_class_whatever_the_column() {
        let text = Column::of(Some("text"));
        assert_eq!(
            from_sqlite(ValueRef::Integer(7), text).unwrap(),
            Value::BigInt(Some(7))
        );
        assert_eq!(
            from_sqlite(ValueRef::Real(0.5), text).unwrap(),
            Value::Double(Some(0.5))
        );
        assert_eq!(
            from_sqlite(ValueRef::Text(b"a"), Column::of(Some("bigint"))).unwrap(),
            Value::String(Some(Box::new("a".into())))
        );
        assert_eq!(
            from_sqlite(ValueRef::Blob(&[1, 2]), Column::Expression).unwrap(),
            Value::Bytes(Some(Box::new(vec![1, 2])))
        );
        assert!(from_sqlite(ValueRef::Text(&[0xff]), text).is_err());
    }

    #[test]
    fn parameters_bind_as_their_storage_class_and_the_rest_go_to_the_pool() {
        assert_eq!(to_sqlite(&Value::Bool(Some(true))), Some(Lite::Integer(1)));
        assert_eq!(to_sqlite(&Value::Int(Some(-3))), Some(Lite::Integer(-3)));
        assert_eq!(to_sqlite(&Value::BigInt(None)), Some(Lite::Null));
        assert_eq!(
            to_sqlite(&Value::BigUnsigned(Some(1))),
            Some(Lite::Integer(1))
        );
        assert_eq!(to_sqlite(&Value::BigUnsigned(Some(u64::MAX))), None);
        assert_eq!(to_sqlite(&Value::Double(Some(0.5))), Some(Lite::Real(0.5)));
        assert_eq!(
            to_sqlite(&Value::String(Some(Box::new("x".into())))),
            Some(Lite::Text("x".into()))
        );
        assert_eq!(
            to_sqlite(&Value::Bytes(Some(Box::new(vec![1])))),
            Some(Lite::Blob(vec![1]))
        );
        assert_eq!(to_sqlite(&Value::Char(Some('x'))), None);
    }
}
