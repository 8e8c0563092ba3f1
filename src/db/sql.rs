//! Hand-written statements that the connection prepares once and reuses.
//!
//! Diesel prepares and caches SELECTs and DELETEs, but never UPDATEs, upserts or
//! INSERTs with optional values (keyed by the query's type, their SQL could vary
//! from call to call), so PostgreSQL parsed and planned those on every call. In
//! pgbench the send-otp transaction ran at about two thirds of its prepared rate
//! that way. A [`Statement`] is SQL text with `?` placeholders and typed binds:
//! diesel caches it by that text, and the placeholders come out as `$n` on
//! PostgreSQL and `?` on SQLite, so one statement serves both backends.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Bool, HasSqlType, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

use super::DbConnection;
use crate::per_backend;

/// One bound value.
#[derive(Debug, Clone, Copy)]
pub enum Bind<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    MaybeBytes(Option<&'a [u8]>),
    Bool(bool),
    Time(NaiveDateTime),
    MaybeTime(Option<NaiveDateTime>),
}

/// SQL text with one `?` per bind, in order (the text holds no other `?`).
#[derive(Debug)]
pub struct Statement<'a> {
    sql: &'static str,
    binds: Vec<Bind<'a>>,
}

impl<'a> Statement<'a> {
    pub fn new(sql: &'static str, binds: Vec<Bind<'a>>) -> Self {
        debug_assert_eq!(sql.matches('?').count(), binds.len(), "{sql}");
        Self { sql, binds }
    }

    /// Runs the statement on whichever backend `conn` is; returns the rows changed.
    pub fn execute(self, conn: &mut DbConnection) -> QueryResult<usize> {
        per_backend!(conn, |c| RunQueryDsl::execute(self, c))
    }
}

impl<DB> QueryFragment<DB> for Statement<'_>
where
    DB: Backend
        + HasSqlType<Text>
        + HasSqlType<Integer>
        + HasSqlType<BigInt>
        + HasSqlType<Binary>
        + HasSqlType<Bool>
        + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    i32: ToSql<Integer, DB>,
    i64: ToSql<BigInt, DB>,
    for<'c> Option<&'c str>: ToSql<Nullable<Text>, DB>,
    [u8]: ToSql<Binary, DB>,
    bool: ToSql<Bool, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
    for<'c> Option<&'c [u8]>: ToSql<Nullable<Binary>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let mut binds = self.binds.iter();
        for (i, part) in self.sql.split('?').enumerate() {
            if i > 0 {
                match binds.next().expect("one bind per placeholder") {
                    Bind::Text(value) => out.push_bind_param::<Text, str>(value)?,
                    Bind::MaybeText(value) => {
                        out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?
                    }
                    Bind::Int(value) => out.push_bind_param::<Integer, i32>(value)?,
                    Bind::Long(value) => out.push_bind_param::<BigInt, i64>(value)?,
                    Bind::Bytes(value) => out.push_bind_param::<Binary, [u8]>(value)?,
                    Bind::MaybeBytes(value) => {
                        out.push_bind_param::<Nullable<Binary>, Option<&[u8]>>(value)?
                    }
                    Bind::Bool(value) => out.push_bind_param::<Bool, bool>(value)?,
                    Bind::Time(value) => out.push_bind_param::<Timestamp, NaiveDateTime>(value)?,
                    Bind::MaybeTime(value) => {
                        out.push_bind_param::<Nullable<Timestamp>, Option<NaiveDateTime>>(value)?
                    }
                }
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl QueryId for Statement<'_> {
    type QueryId = ();
    // No static id: the statement cache then keys it by its SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for Statement<'_> {}

impl diesel::query_builder::Query for Statement<'_> {
    type SqlType = diesel::sql_types::Untyped;
}

impl Statement<'_> {
    /// Runs a statement that returns one row, read by column name (PostgreSQL).
    pub fn get_row<U>(self, conn: &mut diesel::PgConnection) -> QueryResult<U>
    where
        U: diesel::QueryableByName<diesel::pg::Pg> + 'static,
    {
        RunQueryDsl::get_result(self, conn)
    }

    /// Runs a statement that returns rows, read by column name (PostgreSQL).
    pub fn get_rows<U>(self, conn: &mut diesel::PgConnection) -> QueryResult<Vec<U>>
    where
        U: diesel::QueryableByName<diesel::pg::Pg> + 'static,
    {
        RunQueryDsl::load(self, conn)
    }

    /// [`Statement::execute`] on a PostgreSQL connection.
    pub fn execute_pg(self, conn: &mut diesel::PgConnection) -> QueryResult<usize> {
        RunQueryDsl::execute(self, conn)
    }
}

#[cfg(test)]
mod tests {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    use super::*;

    #[test]
    fn binds_land_between_the_parts_on_sqlite() {
        let mut conn =
            DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
        if let DbConnection::Sqlite(c) = &mut conn {
            c.batch_execute(
                "CREATE TABLE t (a TEXT, b INTEGER, c BLOB, d BOOLEAN, e TIMESTAMP, f TIMESTAMP)",
            )
            .unwrap();
        }
        let now = chrono::Utc::now().naive_utc();
        let insert = |conn: &mut DbConnection| {
            Statement::new(
                "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    Bind::Text("x"),
                    Bind::Int(7),
                    Bind::Bytes(b"\x00\x01"),
                    Bind::Bool(true),
                    Bind::Time(now),
                    Bind::MaybeTime(None),
                ],
            )
            .execute(conn)
        };
        assert_eq!(insert(&mut conn).unwrap(), 1);
        assert_eq!(
            insert(&mut conn).unwrap(),
            1,
            "the cached statement runs again"
        );
        let changed = Statement::new(
            "UPDATE t SET b = b + 1 WHERE a = ? AND b < ?",
            vec![Bind::Text("x"), Bind::Int(8)],
        )
        .execute(&mut conn)
        .unwrap();
        assert_eq!(changed, 2);
    }
}
