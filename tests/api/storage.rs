//! What lands in the database: no plaintext code anywhere, UTC timestamps, and
//! the cleanup of expired codes.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use signup_otp::clock::Clock;
use signup_otp::db::models::{MAILBOX_WIDE, Otp, SendLimit, SignupOtp, User};
use signup_otp::db::schema;
use signup_otp::domain::{EmailAddress, UserType};

use crate::helpers::TestApp;
use crate::on_both_backends;
use crate::send_otp::create_account;

/// Every stored value of the OTP tables, as text, with hashes in both raw and hex form.
fn everything_stored(app: &TestApp) -> String {
    app.with_conn(|conn| {
        let mut dump = String::new();
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        for row in schema::signup_otps::table
            .select(SignupOtp::as_select())
            .load(conn)
            .unwrap()
        {
            dump += &format!(
                "{} {} {} {} {} {} {:?} {:?}\n",
                row.email,
                row.user_type,
                hex(&row.otp_hash),
                String::from_utf8_lossy(&row.otp_hash),
                row.created_at,
                row.expires_at,
                row.verified_at,
                row.attempts
            );
        }
        for row in schema::otps::table
            .select(Otp::as_select())
            .load(conn)
            .unwrap()
        {
            dump += &format!(
                "{} {} {} {}\n",
                hex(&row.otp_hash),
                String::from_utf8_lossy(&row.otp_hash),
                row.created_at,
                row.expires_at
            );
        }
        for row in schema::users::table
            .select(User::as_select())
            .load(conn)
            .unwrap()
        {
            dump += &format!(
                "{} {:?} {}\n",
                row.email, row.hashed_password, row.created_at
            );
        }
        dump
    })
}

fn signup_row(app: &TestApp, email: &str) -> SignupOtp {
    let email = EmailAddress::parse(email).unwrap();
    app.with_conn(|conn| {
        SignupOtp::find(conn, &email, UserType::Live)
            .unwrap()
            .unwrap()
    })
}

fn count_codes(app: &TestApp) -> (i64, i64) {
    app.with_conn(|conn| {
        (
            schema::signup_otps::table.count().get_result(conn).unwrap(),
            schema::otps::table.count().get_result(conn).unwrap(),
        )
    })
}

on_both_backends! {
    async fn no_table_holds_a_code_in_plaintext(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "inactive@example.com", UserType::Live, false);
        let signup_code = app.send_and_read_code("new@example.com", "live").await;
        let activation_code = app.send_and_read_code("inactive@example.com", "live").await;

        let dump = everything_stored(&app);

        assert!(dump.contains("new@example.com"), "the dump reads the rows: {dump}");
        assert!(!dump.contains(&signup_code), "{dump}");
        assert!(!dump.contains(&activation_code), "{dump}");
        assert_eq!(signup_row(&app, "new@example.com").otp_hash.len(), 36, "key id and HMAC");
    }

    async fn timestamps_are_stored_in_utc(backend) {
        let app = TestApp::spawn(backend).await;
        let before: NaiveDateTime = app.clock.now();
        app.send_and_read_code("clock@example.com", "live").await;
        let after: NaiveDateTime = app.clock.now();

        let row = signup_row(&app, "clock@example.com");
        assert!(before <= row.created_at && row.created_at <= after, "{before} <= {} <= {after}", row.created_at);
        assert_eq!(row.expires_at - row.created_at, chrono::Duration::seconds(600));
        let limit = app.with_conn(|conn| {
            SendLimit::find(conn, "clock@example.com", UserType::Live, MAILBOX_WIDE).unwrap().unwrap()
        });
        assert_eq!(limit.last_sent_at, row.created_at);
    }

    async fn cleanup_deletes_only_expired_codes(backend) {
        let app = TestApp::spawn(backend).await;
        create_account(&app, "inactive@example.com", UserType::Demo, false);
        app.send_and_read_code("old@example.com", "live").await;
        app.send_and_read_code("inactive@example.com", "demo").await;
        app.advance(Duration::from_secs(400));
        let fresh = app.send_and_read_code("fresh@example.com", "live").await;
        app.advance(Duration::from_secs(201));

        let service = app.service();
        let report = service.cleanup().await.unwrap();

        assert_eq!((report.signup_otps, report.otps), (1, 1));
        assert_eq!(count_codes(&app), (1, 0));
        assert_eq!(app.verify_otp("fresh@example.com", "live", &fresh).await.status, 200);
    }

    async fn the_service_cleans_up_expired_codes_by_itself(backend) {
        let app = TestApp::spawn_with(backend, |config| {
            config.cleanup_interval = Duration::from_secs(1);
        })
        .await;
        app.send_and_read_code("expiring@example.com", "live").await;
        assert_eq!(count_codes(&app), (1, 0));

        app.advance(Duration::from_secs(601));

        crate::helpers::eventually("the expired code is cleaned up", || {
            crate::helpers::holds(count_codes(&app) == (0, 0))
        })
        .await;
    }
}

/// A consumed code or a counted attempt must survive the machine losing power:
/// with WAL, only synchronous=FULL syncs each commit. (A SQLite setting.)
#[actix_web::test]
async fn sqlite_syncs_every_commit_to_disk() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let synchronous: i32 = app.with_conn(|conn| {
        diesel::sql_query("PRAGMA synchronous")
            .get_result::<Synchronous>(conn)
            .unwrap()
            .synchronous
    });
    assert_eq!(synchronous, 2, "FULL");
    let mode: String = app.with_conn(|conn| {
        diesel::sql_query("PRAGMA journal_mode")
            .get_result::<JournalMode>(conn)
            .unwrap()
            .journal_mode
    });
    assert_eq!(mode, "wal");
}

#[derive(diesel::QueryableByName)]
struct Synchronous {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    synchronous: i32,
}

#[derive(diesel::QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}
