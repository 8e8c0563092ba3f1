//! `email_outbox`: emails written in the same transaction as their code and
//! delivered afterwards by the courier. The payload is sealed; this model only
//! moves bytes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::schema::email_outbox;
use crate::db::{DbConnection, write_transaction};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub user_type: String,
    pub payload: Vec<u8>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = email_outbox)]
pub struct NewOutboxMessage<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub user_type: &'a str,
    pub payload: &'a [u8],
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
}

impl NewOutboxMessage<'_> {
    /// Queues the message, replacing any not yet sent to the same identity: a new
    /// code makes the old code's email pointless.
    pub fn replace_pending(&self, conn: &mut DbConnection) -> QueryResult<()> {
        diesel::delete(
            email_outbox::table
                .filter(email_outbox::recipient.eq(self.recipient))
                .filter(email_outbox::user_type.eq(self.user_type)),
        )
        .execute(conn)?;
        Statement::new(
            "INSERT INTO email_outbox (kind, recipient, user_type, payload, created_at, \
             expires_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                Bind::Text(self.kind),
                Bind::Text(self.recipient),
                Bind::Text(self.user_type),
                Bind::Bytes(self.payload),
                Bind::Time(self.created_at),
                Bind::Time(self.expires_at),
                Bind::Time(self.next_attempt_at),
            ],
        )
        .execute(conn)?;
        Ok(())
    }
}

/// How much is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub messages: i64,
    pub oldest_created_at: Option<NaiveDateTime>,
}

impl OutboxMessage {
    /// Claims up to `limit` messages due at `now`, leasing each until
    /// `lease_until` so that no other sender takes it meanwhile. On PostgreSQL
    /// concurrent senders skip each other's rows (`FOR UPDATE SKIP LOCKED`); on
    /// SQLite the write transaction serialises them.
    pub fn claim_due(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<OutboxMessage>> {
        use crate::db::schema::email_outbox::dsl::*;
        match conn {
            DbConnection::Pg(pg) => pg.transaction(|pg| {
                let ids: Vec<i64> = email_outbox
                    .filter(next_attempt_at.le(now))
                    .order(next_attempt_at.asc())
                    .limit(limit)
                    .select(id)
                    .for_update()
                    .skip_locked()
                    .load(pg)?;
                diesel::update(email_outbox.filter(id.eq_any(&ids)))
                    .set(next_attempt_at.eq(lease_until))
                    .returning(OutboxMessage::as_returning())
                    .get_results(pg)
            }),
            DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
                let ids: Vec<i64> = email_outbox
                    .filter(next_attempt_at.le(now))
                    .order(next_attempt_at.asc())
                    .limit(limit)
                    .select(id)
                    .load(conn)?;
                diesel::update(email_outbox.filter(id.eq_any(&ids)))
                    .set(next_attempt_at.eq(lease_until))
                    .execute(conn)?;
                email_outbox
                    .filter(id.eq_any(&ids))
                    .select(OutboxMessage::as_select())
                    .load(conn)
            }),
        }
    }

    /// Removes a message that was sent or abandoned.
    pub fn delete(conn: &mut DbConnection, message_id: i64) -> QueryResult<usize> {
        diesel::delete(email_outbox::table.find(message_id)).execute(conn)
    }

    /// Records a failed attempt and when to try again.
    pub fn reschedule(
        conn: &mut DbConnection,
        message_id: i64,
        attempts: i32,
        next_attempt_at: NaiveDateTime,
        error: &str,
    ) -> QueryResult<usize> {
        let error: String = error.chars().take(500).collect();
        diesel::update(email_outbox::table.find(message_id))
            .set((
                email_outbox::attempts.eq(attempts),
                email_outbox::next_attempt_at.eq(next_attempt_at),
                email_outbox::last_error.eq(error),
            ))
            .execute(conn)
    }

    /// When the next message falls due, if any is waiting.
    pub fn next_due(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
        email_outbox::table
            .select(diesel::dsl::min(email_outbox::next_attempt_at))
            .first(conn)
    }

    pub fn backlog(conn: &mut DbConnection) -> QueryResult<Backlog> {
        let (messages, oldest_created_at) = email_outbox::table
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(email_outbox::created_at),
            ))
            .first(conn)?;
        Ok(Backlog {
            messages,
            oldest_created_at,
        })
    }
}
