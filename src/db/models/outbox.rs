//! `email_outbox`: emails written in the same transaction as their code and
//! delivered afterwards by the courier. The payload is sealed; this model only
//! moves bytes. A row stays after its last attempt as the message's delivery
//! record, its payload dropped, until the retention cleanup deletes it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::schema::email_outbox;
use crate::db::{DbConnection, write_transaction};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct OutboxMessage {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub user_type: String,
    pub payload: Option<Vec<u8>>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub status: String,
    pub finished_at: Option<NaiveDateTime>,
    pub relay_reply: Option<String>,
}

/// What became of a message (`email_outbox.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Queued,
    /// Attempts failed; tried again at `next_attempt_at`.
    Retrying,
    /// The relay accepted it.
    Delivered,
    /// Its code expired before it could be delivered, or it could not be opened.
    Abandoned,
    /// The relay refused it for good; not retried.
    Rejected,
    /// A newer message to the same identity came first; never sent.
    Replaced,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Retrying,
        DeliveryStatus::Delivered,
        DeliveryStatus::Abandoned,
        DeliveryStatus::Rejected,
        DeliveryStatus::Replaced,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Abandoned => "abandoned",
            DeliveryStatus::Rejected => "rejected",
            DeliveryStatus::Replaced => "replaced",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }

    /// Whether the courier still has the message to deliver.
    pub fn is_pending(self) -> bool {
        matches!(self, DeliveryStatus::Queued | DeliveryStatus::Retrying)
    }
}

/// The rows still to deliver, written as the partial indexes' predicate so that
/// PostgreSQL uses them.
const PENDING: &str = "status IN ('queued', 'retrying')";

fn pending() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql(PENDING)
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
    /// code makes the old code's email pointless. The replaced ones stay as
    /// records (`replaced`), their payload dropped.
    pub fn replace_pending(&self, conn: &mut DbConnection) -> QueryResult<()> {
        Statement::new(
            "UPDATE email_outbox SET status = 'replaced', payload = NULL, finished_at = ? \
             WHERE recipient = ? AND user_type = ? AND status IN ('queued', 'retrying')",
            vec![
                Bind::Time(self.created_at),
                Bind::Text(self.recipient),
                Bind::Text(self.user_type),
            ],
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
            // One statement: the due rows nobody else holds, leased and returned.
            DbConnection::Pg(pg) => Statement::new(
                "UPDATE email_outbox SET next_attempt_at = ? WHERE id IN (SELECT id FROM \
                 email_outbox WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ? \
                 ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING *",
                vec![Bind::Time(lease_until), Bind::Time(now), Bind::Long(limit)],
            )
            .get_rows(pg),
            DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
                let ids: Vec<i64> = email_outbox
                    .filter(pending())
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

    /// Records that the relay accepted the message at `at` with `reply`
    /// (whatever became of it meanwhile: it was delivered).
    pub fn mark_delivered(
        conn: &mut DbConnection,
        message_id: i64,
        at: NaiveDateTime,
        reply: &str,
    ) -> QueryResult<usize> {
        let reply = clip(reply);
        Statement::new(
            "UPDATE email_outbox SET status = 'delivered', payload = NULL, finished_at = ?, \
             relay_reply = ?, attempts = attempts + 1 WHERE id = ?",
            vec![Bind::Time(at), Bind::Text(&reply), Bind::Long(message_id)],
        )
        .execute(conn)
    }

    /// [`OutboxMessage::mark_delivered`] for several messages, each `(id, reply)`,
    /// recorded at `at`: one statement on PostgreSQL, one transaction on SQLite.
    pub fn mark_delivered_all(
        conn: &mut DbConnection,
        delivered: &[(i64, String)],
        at: NaiveDateTime,
    ) -> QueryResult<usize> {
        match conn {
            DbConnection::Pg(pg) => {
                let rows: Vec<serde_json::Value> = delivered
                    .iter()
                    .map(|(id, reply)| serde_json::json!({ "id": id, "reply": clip(reply) }))
                    .collect();
                let rows = serde_json::Value::Array(rows).to_string();
                Statement::new(
                    "UPDATE email_outbox AS o SET status = 'delivered', payload = NULL, \
                     finished_at = ?, relay_reply = d.reply, attempts = o.attempts + 1 FROM \
                     json_to_recordset(?::json) AS d(id bigint, reply text) WHERE o.id = d.id",
                    vec![Bind::Time(at), Bind::Text(&rows)],
                )
                .execute_pg(pg)
            }
            DbConnection::Sqlite(_) => write_transaction(conn, |conn| {
                let mut changed = 0;
                for (id, reply) in delivered {
                    changed += Self::mark_delivered(conn, *id, at, reply)?;
                }
                Ok(changed)
            }),
        }
    }

    /// Ends a message that will not be delivered: `abandoned` (with why) or
    /// `rejected` (with the relay's answer). A message already finished otherwise
    /// (replaced meanwhile) keeps its status.
    pub fn finish_undelivered(
        conn: &mut DbConnection,
        message_id: i64,
        status: DeliveryStatus,
        at: NaiveDateTime,
        attempts: i32,
        reason: &str,
    ) -> QueryResult<usize> {
        debug_assert!(matches!(
            status,
            DeliveryStatus::Abandoned | DeliveryStatus::Rejected
        ));
        let reason = clip(reason);
        let (error, reply) = match status {
            DeliveryStatus::Rejected => (None, Some(reason.as_str())),
            _ => (Some(reason.as_str()), None),
        };
        Statement::new(
            "UPDATE email_outbox SET status = ?, payload = NULL, finished_at = ?, attempts = ?, \
             last_error = COALESCE(?, last_error), relay_reply = ? \
             WHERE id = ? AND status IN ('queued', 'retrying')",
            vec![
                Bind::Text(status.as_str()),
                Bind::Time(at),
                Bind::Int(attempts),
                Bind::MaybeText(error),
                Bind::MaybeText(reply),
                Bind::Long(message_id),
            ],
        )
        .execute(conn)
    }

    /// Records a failed attempt and when to try again, unless the message was
    /// replaced meanwhile.
    pub fn reschedule(
        conn: &mut DbConnection,
        message_id: i64,
        attempts: i32,
        next_attempt_at: NaiveDateTime,
        error: &str,
    ) -> QueryResult<usize> {
        let error = clip(error);
        Statement::new(
            "UPDATE email_outbox SET status = 'retrying', attempts = ?, next_attempt_at = ?, \
             last_error = ? WHERE id = ? AND status IN ('queued', 'retrying')",
            vec![
                Bind::Int(attempts),
                Bind::Time(next_attempt_at),
                Bind::Text(&error),
                Bind::Long(message_id),
            ],
        )
        .execute(conn)
    }

    /// An operator's expire: the identity's code emails still to send are
    /// abandoned (their code no longer works).
    pub fn abandon_pending_for(
        conn: &mut DbConnection,
        recipient: &str,
        user_type: &str,
        at: NaiveDateTime,
        reason: &str,
    ) -> QueryResult<usize> {
        Statement::new(
            "UPDATE email_outbox SET status = 'abandoned', payload = NULL, finished_at = ?, \
             last_error = ? WHERE recipient = ? AND user_type = ? \
             AND kind IN ('signup_code', 'activation_code') AND status IN ('queued', 'retrying')",
            vec![
                Bind::Time(at),
                Bind::Text(reason),
                Bind::Text(recipient),
                Bind::Text(user_type),
            ],
        )
        .execute(conn)
    }

    /// Deletes the records of messages finished before `before`; returns how many.
    pub fn delete_finished_before(
        conn: &mut DbConnection,
        before: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(
            email_outbox::table
                .filter(email_outbox::finished_at.is_not_null())
                .filter(email_outbox::finished_at.lt(before)),
        )
        .execute(conn)
    }

    /// Every message to one identity still on record, newest first.
    pub fn for_identity(
        conn: &mut DbConnection,
        recipient: &str,
        user_type: &str,
    ) -> QueryResult<Vec<DeliveryRecord>> {
        email_outbox::table
            .filter(email_outbox::recipient.eq(recipient))
            .filter(email_outbox::user_type.eq(user_type))
            .order((email_outbox::created_at.desc(), email_outbox::id.desc()))
            .select(DeliveryRecord::as_select())
            .load(conn)
    }

    /// When the next message falls due, if any is waiting.
    pub fn next_due(conn: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
        email_outbox::table
            .filter(pending())
            .select(diesel::dsl::min(email_outbox::next_attempt_at))
            .first(conn)
    }

    pub fn backlog(conn: &mut DbConnection) -> QueryResult<Backlog> {
        let (messages, oldest_created_at) = email_outbox::table
            .filter(pending())
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

/// A message as support sees it: everything but the sealed payload.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct DeliveryRecord {
    pub id: i64,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub status: String,
    pub finished_at: Option<NaiveDateTime>,
    pub relay_reply: Option<String>,
}

/// What fits a 500-character column, with control characters (a relay's reply
/// is printed on operators' terminals) shown as `?`.
fn clip(text: &str) -> String {
    text.chars()
        .take(500)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
