//! SQL text rendered once and reused, for the few queries on every request's path.
//!
//! Rendering a query with sea-query costs about as much as running it in place on SQLite
//! (some 18 us for the client lookup). A query whose shape is fixed renders to the same text
//! every time; only its values change. So a call site keeps the text of its first rendering
//! per backend and shape, and later calls bind their values to it. The call site lists the
//! values in the order its query binds them; every call in a debug build (so every test)
//! renders the query anyway and checks that list against it, and a release build checks it
//! on the first call before it keeps the text.

use std::sync::OnceLock;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, PrimaryKeyTrait, QuerySelect as _,
    QueryTrait as _, Statement, Value,
};

/// The texts of one call site's query: one per backend and shape (`SLOTS / 2` shapes).
pub(crate) struct Rendered<const SLOTS: usize>([OnceLock<String>; SLOTS]);

impl<const SLOTS: usize> Rendered<SLOTS> {
    pub(crate) const fn new() -> Self {
        Self([const { OnceLock::new() }; SLOTS])
    }

    /// The statement `render` makes, whose values are `values` in this order. `shape`
    /// numbers the query's structure (`0` when it has one), below `SLOTS / 2`.
    pub(crate) fn statement(
        &self,
        backend: DbBackend,
        shape: usize,
        values: Vec<Value>,
        render: impl FnOnce() -> Statement,
    ) -> Statement {
        let slot = self
            .0
            .get(shape * 2 + usize::from(backend == DbBackend::Postgres));
        if !cfg!(debug_assertions) {
            if let Some(sql) = slot.and_then(OnceLock::get) {
                return Statement::from_sql_and_values(backend, sql.as_str(), values);
            }
        }
        let rendered = render();
        let same = rendered.values.as_ref().is_some_and(|v| v.0 == values);
        debug_assert!(
            same,
            "values listed out of order: {values:?} for {:?}",
            rendered.values
        );
        if let (true, Some(slot)) = (same, slot) {
            let _ = slot.set(rendered.sql.clone());
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
    let query = rendered.statement(backend, 0, vec![id.into(), 1u64.into()], || {
        E::find_by_id(id.to_owned()).limit(1).build(backend)
    });
    E::find().from_raw_sql(query).one(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(a: &str, b: i64) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT ? AS a, ? AS b",
            [a.into(), b.into()],
        )
    }

    #[test]
    fn values_in_the_rendered_order_bind_to_the_kept_text() {
        let rendered: Rendered<2> = Rendered::new();
        for (a, b) in [("x", 1), ("y", 2)] {
            let stmt = rendered.statement(DbBackend::Sqlite, 0, vec![a.into(), b.into()], || {
                render(a, b)
            });
            assert_eq!(stmt.sql, "SELECT ? AS a, ? AS b");
            assert_eq!(stmt.values.unwrap().0, vec![Value::from(a), Value::from(b)]);
        }
        assert!(rendered.0[0].get().is_some() && rendered.0[1].get().is_none());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "values listed out of order")]
    fn values_out_of_order_are_caught() {
        let rendered: Rendered<2> = Rendered::new();
        rendered.statement(DbBackend::Sqlite, 0, vec![1.into(), "x".into()], || {
            render("x", 1)
        });
    }
}
