//! SQL text rendered once and reused, for the few queries on every request's path.
//!
//! Rendering a query with sea-query costs about as much as running it in place on SQLite
//! (some 18 us for the client lookup). A query whose shape is fixed renders to the same text
//! every time; only its values change. So a call site declares its query once, as a plain
//! function of its inputs (not a closure: it can take no value from its surroundings that the
//! kept text would then fix for good), and keeps the text of its first rendering per backend and shape. Where each
//! input binds comes from the rendering too: the query is rendered once more with a probe
//! standing in for every input (a value no real input has), and each bound value that is a
//! probe names the input that binds there; any other is a constant of the query (`LIMIT 1`).
//! Later calls bind their inputs to the kept text in that order, without rendering. A
//! query whose text depends on its inputs' values (give each shape its own number), or which
//! binds a value computed from an input (compute it before, as an input), is not kept, and a
//! debug build (so every test) stops on it.

use std::sync::OnceLock;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, PrimaryKeyTrait, QuerySelect as _,
    QueryTrait as _, Statement, Value,
};

/// What a query binds: values that a probe of the same kind and shape can stand in for.
pub(crate) trait Inputs: Sized {
    /// A stand-in of the same shape whose values are probes, numbered from `next` on.
    fn probe(&self, next: &mut u32) -> Self;
    /// The values, in the order [`Inputs::probe`] numbers them.
    fn values(&self, out: &mut Vec<Value>);
}

/// Probes are numbers and strings no real input has: far from every count, time and limit,
/// and 2^32 apart, so that a little arithmetic on one (`n + 1`) lands on no other; and text
/// starting with a control character.
const PROBE_BASE: i64 = 0x5EED_0000_0000_0000;

impl Inputs for i64 {
    fn probe(&self, next: &mut u32) -> Self {
        *next += 1;
        PROBE_BASE + (i64::from(*next) << 32)
    }
    fn values(&self, out: &mut Vec<Value>) {
        out.push((*self).into());
    }
}

impl Inputs for String {
    fn probe(&self, next: &mut u32) -> Self {
        *next += 1;
        format!("\u{1}probe {next}")
    }
    fn values(&self, out: &mut Vec<Value>) {
        out.push(self.as_str().into());
    }
}

impl<T: Inputs> Inputs for Option<T> {
    fn probe(&self, next: &mut u32) -> Self {
        self.as_ref().map(|value| value.probe(next))
    }
    fn values(&self, out: &mut Vec<Value>) {
        if let Some(value) = self {
            value.values(out);
        }
    }
}

impl<T: Inputs> Inputs for Vec<T> {
    fn probe(&self, next: &mut u32) -> Self {
        self.iter().map(|value| value.probe(next)).collect()
    }
    fn values(&self, out: &mut Vec<Value>) {
        for value in self {
            value.values(out);
        }
    }
}

macro_rules! tuple_inputs {
    ($($name:ident),+) => {
        impl<$($name: Inputs),+> Inputs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn probe(&self, next: &mut u32) -> Self {
                let ($($name,)+) = self;
                ($($name.probe(next),)+)
            }
            #[allow(non_snake_case)]
            fn values(&self, out: &mut Vec<Value>) {
                let ($($name,)+) = self;
                $($name.values(out);)+
            }
        }
    };
}

tuple_inputs!(A);
tuple_inputs!(A, B);
tuple_inputs!(A, B, C);
tuple_inputs!(A, B, C, D);
tuple_inputs!(A, B, C, D, E);

/// Where a bound value comes from: one of the inputs' values, or the query itself.
#[derive(Debug)]
enum Bind {
    Input(usize),
    Constant(Value),
}

/// Why a query's rendering is not kept.
#[derive(Debug, PartialEq, Eq)]
enum Unkept {
    /// Its text depends on its inputs' values: a shape of its own is missing.
    TextVaries,
    /// It binds a value that is none of its inputs (computed from one, say).
    Computed,
}

/// A query's text, and where each of its bound values comes from.
#[derive(Debug)]
struct Kept {
    sql: String,
    binds: Vec<Bind>,
}

impl Kept {
    /// What `render` makes of `inputs` (`rendered`), told apart by a rendering of probes;
    /// `Err` says why it cannot be kept.
    fn derive<I: Inputs>(
        inputs: &I,
        rendered: &Statement,
        render: Render<I>,
        backend: DbBackend,
    ) -> Result<Self, Unkept> {
        let probes = inputs.probe(&mut 0);
        let probed = render(&probes, backend);
        if probed.sql != rendered.sql {
            return Err(Unkept::TextVaries);
        }
        let mut probe_values = Vec::new();
        probes.values(&mut probe_values);
        let binds: Vec<Bind> = probed
            .values
            .iter()
            .flat_map(|values| values.0.iter())
            .map(|value| match probe_values.iter().position(|p| p == value) {
                Some(at) => Bind::Input(at),
                None => Bind::Constant(value.clone()),
            })
            .collect();
        let kept = Self {
            sql: rendered.sql.clone(),
            binds,
        };
        let real = rendered.values.as_ref().map(|v| v.0.as_slice());
        if kept.values(inputs).as_deref() != Some(real.unwrap_or_default()) {
            return Err(Unkept::Computed);
        }
        Ok(kept)
    }

    /// The values to bind for `inputs`, in the kept text's order.
    fn values<I: Inputs>(&self, inputs: &I) -> Option<Vec<Value>> {
        let mut values = Vec::with_capacity(self.binds.len());
        inputs.values(&mut values);
        self.binds
            .iter()
            .map(|bind| match bind {
                Bind::Input(at) => values.get(*at).cloned(),
                Bind::Constant(value) => Some(value.clone()),
            })
            .collect()
    }
}

/// A query as a function of its inputs. A plain function, not a closure: it can take nothing
/// from its surroundings that would stay fixed in the kept text.
pub(crate) type Render<I> = fn(&I, DbBackend) -> Statement;

/// The texts of one call site's query: one per backend and shape (`SLOTS / 2` shapes).
pub(crate) struct Rendered<const SLOTS: usize>([OnceLock<Kept>; SLOTS]);

impl<const SLOTS: usize> Rendered<SLOTS> {
    pub(crate) const fn new() -> Self {
        Self([const { OnceLock::new() }; SLOTS])
    }

    /// The statement `render` makes of `inputs`, the one declaration of the query. `shape`
    /// numbers the query's structure (`0` when it has one), below `SLOTS / 2`.
    pub(crate) fn statement<I: Inputs>(
        &self,
        backend: DbBackend,
        shape: usize,
        inputs: I,
        render: Render<I>,
    ) -> Statement {
        let slot = self
            .0
            .get(shape * 2 + usize::from(backend == DbBackend::Postgres));
        if let Some(kept) = slot.and_then(OnceLock::get) {
            if let Some(values) = kept.values(&inputs) {
                let statement = Statement::from_sql_and_values(backend, kept.sql.as_str(), values);
                // Every call in a debug build (so every test) renders the query anyway.
                if cfg!(debug_assertions) {
                    let fresh = render(&inputs, backend);
                    debug_assert_eq!(
                        (&fresh.sql, &fresh.values),
                        (&statement.sql, &statement.values),
                        "a kept query bound its inputs differently from its rendering"
                    );
                }
                return statement;
            }
        }
        let rendered = render(&inputs, backend);
        match Kept::derive(&inputs, &rendered, render, backend) {
            Ok(kept) => {
                if let Some(slot) = slot {
                    let _ = slot.set(kept);
                }
            }
            Err(why) => {
                debug_assert!(false, "a query cannot be kept ({why:?}): {}", rendered.sql);
                tracing::warn!(sql = %rendered.sql, ?why, "a query is rendered on every call");
            }
        }
        rendered
    }
}

/// `E::find_by_id(id).one(db)` for an entity keyed by text, its SQL rendered once.
pub(crate) async fn one_by_id<E>(
    rendered: &Rendered<2>,
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<String>,
{
    let backend = db.get_database_backend();
    let query = rendered.statement(backend, 0, id.to_owned(), |id, backend| {
        E::find_by_id(id.clone()).limit(1).build(backend)
    });
    E::find().from_raw_sql(query).one(db).await
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, Query};

    use super::*;

    /// `SELECT ? AS a, ? AS b, ? AS c FROM t WHERE x = ? LIMIT ?`: the inputs bind out of
    /// the order they are given in, one of them twice, beside a constant.
    fn render(&(ref a, b): &(String, i64), backend: DbBackend) -> Statement {
        backend.build(
            Query::select()
                .expr_as(Expr::val(b), Alias::new("b"))
                .expr_as(Expr::val(a.as_str()), Alias::new("a"))
                .expr_as(Expr::val(b), Alias::new("c"))
                .from(Alias::new("t"))
                .and_where(Expr::col(Alias::new("x")).eq(a.as_str()))
                .limit(1),
        )
    }

    #[test]
    fn the_binds_come_from_the_rendering_and_later_calls_reuse_the_text() {
        let rendered: Rendered<2> = Rendered::new();
        for (a, b) in [("x", 1), ("y", 2), ("z", 3)] {
            let inputs = (a.to_owned(), b);
            let expected = render(&inputs, DbBackend::Sqlite);
            let stmt = rendered.statement(DbBackend::Sqlite, 0, inputs, render);
            assert_eq!(stmt.sql, expected.sql);
            assert_eq!(stmt.values, expected.values);
            assert_eq!(
                stmt.values.unwrap().0,
                vec![
                    Value::from(b),
                    Value::from(a),
                    Value::from(b),
                    Value::from(a),
                    Value::from(1u64)
                ]
            );
            assert!(rendered.0[0].get().is_some() && rendered.0[1].get().is_none());
        }
        let kept = rendered.0[0].get().unwrap();
        assert!(matches!(
            kept.binds.as_slice(),
            [
                Bind::Input(1),
                Bind::Input(0),
                Bind::Input(1),
                Bind::Input(0),
                Bind::Constant(_)
            ]
        ));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "TextVaries")]
    fn a_query_whose_text_depends_on_its_values_is_caught() {
        let rendered: Rendered<2> = Rendered::new();
        let by_value = |&n: &i64, backend: DbBackend| {
            let column = if n == PROBE_BASE + (1 << 32) {
                "probed"
            } else {
                "real"
            };
            backend.build(Query::select().expr_as(Expr::val(n), Alias::new(column)))
        };
        rendered.statement(DbBackend::Sqlite, 0, 7i64, by_value);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "Computed")]
    fn a_value_computed_inside_the_query_is_caught() {
        let rendered: Rendered<2> = Rendered::new();
        rendered.statement(DbBackend::Sqlite, 0, 7i64, |&n: &i64, _| {
            DbBackend::Sqlite.build(Query::select().expr(Expr::val(n + 1)))
        });
    }
}
