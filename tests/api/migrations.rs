//! Every migration runs up, down and up again on each backend.

use std::time::Duration;

use diesel::prelude::*;
use signup_otp::db::models::{DemoUser, Otp, OutboxMessage, SendLimit, SignupOtp, User};
use signup_otp::db::{self, schema};

use crate::helpers::TestDb;
use crate::on_both_backends;

const TABLES: usize = 6;

/// The migrations in the source tree (both backends have the same ones).
pub fn migration_versions() -> Vec<String> {
    let mut versions: Vec<String> = std::fs::read_dir("migrations/sqlite")
        .unwrap()
        .map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.split('_').next().unwrap().replace('-', "")
        })
        .collect();
    versions.sort();
    versions
}

fn migration_count() -> usize {
    migration_versions().len()
}

/// How many tables answer a query for every column the code's schema names:
/// all of them after the migrations (so each backend's migrations match
/// `schema.rs`), none after reverting them all.
fn tables_answer(conn: &mut db::DbConnection) -> usize {
    [
        schema::users::table
            .select(User::as_select())
            .load(conn)
            .is_ok(),
        schema::demo_users::table
            .select(DemoUser::as_select())
            .load(conn)
            .is_ok(),
        schema::signup_otps::table
            .select(SignupOtp::as_select())
            .load(conn)
            .is_ok(),
        schema::otps::table
            .select(Otp::as_select())
            .load(conn)
            .is_ok(),
        schema::otp_send_limits::table
            .select(SendLimit::as_select())
            .load(conn)
            .is_ok(),
        schema::email_outbox::table
            .select(OutboxMessage::as_select())
            .load(conn)
            .is_ok(),
    ]
    .into_iter()
    .filter(|&ok| ok)
    .count()
}

on_both_backends! {
    async fn migrations_run_up_down_and_up_again(backend) {
        let test_db = TestDb::create(backend);
        let pool = db::build_pool(&test_db.url, 1, Duration::from_secs(5));
        let mut conn = pool.get().unwrap();

        let applied = db::run_migrations(&mut conn).unwrap();
        assert_eq!(applied.len(), migration_count());
        assert_eq!(tables_answer(&mut conn), TABLES);
        assert!(db::run_migrations(&mut conn).unwrap().is_empty(), "a second run applies nothing");

        for version in applied.iter().rev() {
            assert_eq!(&db::revert_last_migration(&mut conn).unwrap(), version);
        }
        assert!(db::applied_migrations(&mut conn).unwrap().is_empty());
        assert_eq!(tables_answer(&mut conn), 0, "every table is gone");

        assert_eq!(db::run_migrations(&mut conn).unwrap(), applied);
        assert_eq!(tables_answer(&mut conn), TABLES);
    }

    async fn email_ids_go_on_across_the_delivery_records_migration(backend) {
        let test_db = TestDb::create(backend);
        let pool = db::build_pool(&test_db.url, 1, Duration::from_secs(5));
        let mut conn = pool.get().unwrap();
        db::run_migrations(&mut conn).unwrap();
        // Back to just before the delivery records' migration.
        for _ in 0..migration_count() {
            if db::revert_last_migration(&mut conn).unwrap() == "20261206000009" {
                break;
            }
        }
        assert_eq!(
            db::applied_migrations(&mut conn).unwrap().len(),
            8,
            "the delivery records' migration is the ninth"
        );
        let blob = match backend {
            crate::helpers::Backend::Sqlite => "X'00'",
            crate::helpers::Backend::Postgres => "'\\x00'::bytea",
        };
        // Before the records, a sent email's row was deleted: three came and went.
        let insert = |conn: &mut signup_otp::db::DbConnection| {
            diesel::sql_query(format!(
                "INSERT INTO email_outbox (kind, recipient, user_type, payload, created_at, \
                 expires_at, next_attempt_at) VALUES ('signup_code', 'a@example.com', 'live', \
                 {blob}, '2026-12-06 00:00:00', '2026-12-06 00:10:00', '2026-12-06 00:00:00')"
            ))
            .execute(conn)
            .unwrap();
        };
        for _ in 0..3 {
            insert(&mut conn);
        }
        let plain: &mut signup_otp::db::DbConnection = &mut conn;
        diesel::sql_query("DELETE FROM email_outbox").execute(plain).unwrap();

        db::run_migrations(&mut conn).unwrap();
        insert(&mut conn);
        let plain: &mut signup_otp::db::DbConnection = &mut conn;
        let ids: Vec<i64> = schema::email_outbox::table
            .select(schema::email_outbox::id)
            .load(plain)
            .unwrap();
        assert_eq!(ids, [4], "no id is handed out twice");
    }
}
