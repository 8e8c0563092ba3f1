//! PostgreSQL decides the send limits in `signup_otp_throttle` (one statement per
//! send); SQLite in `throttle::decide`. Both are held to the same answers here,
//! case by case, over records around every boundary the rules have.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use diesel::{Connection, PgConnection};
use signup_otp::db::functions::{self, WindowArgs};
use signup_otp::flows::OtpPolicy;
use signup_otp::flows::throttle::{self, Decision, SendWindow};

use crate::helpers::{Backend, TestDb};

fn now() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 1)
        .unwrap()
        .and_hms_micro_opt(12, 0, 0, 250_000)
        .unwrap()
}

fn policy(cooldown: Duration, hour: u32, day: u32, mailbox_day: u32) -> OtpPolicy {
    OtpPolicy {
        resend_cooldown: cooldown,
        max_sends_per_hour: hour,
        max_sends_per_day: day,
        mailbox_sends_per_day: mailbox_day,
        ..signup_otp::config::Config::from_lookup(|_| None)
            .unwrap()
            .otp
    }
}

fn ago(secs: i64) -> NaiveDateTime {
    now() - TimeDelta::seconds(secs)
}

/// Offsets (seconds before now) on each side of the cooldown, the hour and the day.
const OFFSETS: [i64; 10] = [1, 59, 60, 61, 3599, 3600, 3601, 86399, 86400, 86401];

fn records(counts: &[(u32, u32)]) -> Vec<Option<SendWindow>> {
    let mut all = vec![None];
    for &last in &[1, 60, 3600, 86400] {
        for &window in &OFFSETS {
            for day in [None, Some(window), Some(86399), Some(86400), Some(86401)] {
                for &(in_window, in_day) in counts {
                    all.push(Some(SendWindow {
                        last_sent_at: ago(last),
                        window_started_at: ago(window.max(last)),
                        sends_in_window: in_window,
                        day_started_at: day.map(|d: i64| ago(d.max(last))),
                        sends_in_day: in_day,
                    }));
                }
            }
        }
    }
    all
}

fn args(window: &SendWindow) -> WindowArgs {
    (
        window.last_sent_at,
        window.window_started_at,
        i32::try_from(window.sends_in_window).unwrap(),
        window.day_started_at,
        i32::try_from(window.sends_in_day).unwrap(),
    )
}

fn database(
    conn: &mut PgConnection,
    mailbox: Option<&SendWindow>,
    requester: Option<&SendWindow>,
    policy: &OtpPolicy,
) -> Decision {
    let limit = |value: u32| i32::try_from(value).unwrap();
    let refusal = functions::throttle(
        conn,
        mailbox.map(args),
        requester.map(args),
        now(),
        i64::try_from(policy.resend_cooldown.as_micros()).unwrap(),
        limit(policy.max_sends_per_hour),
        limit(policy.max_sends_per_day),
        limit(policy.mailbox_sends_per_day),
    )
    .unwrap();
    if let Some(reason) = refusal.reason {
        return Decision::Deny {
            reason: signup_otp::flows::ThrottleReason::parse(&reason).unwrap(),
            retry_after: Duration::from_secs(refusal.retry_after_secs.unwrap().unsigned_abs()),
        };
    }
    let mut counted = |record: Option<&SendWindow>| {
        let row = functions::counted(conn, record.map(args), now()).unwrap();
        SendWindow {
            last_sent_at: row.n_last_sent_at,
            window_started_at: row.n_window_started_at,
            sends_in_window: u32::try_from(row.n_sends_in_window).unwrap(),
            day_started_at: row.n_day_started_at,
            sends_in_day: u32::try_from(row.n_sends_in_day).unwrap(),
        }
    };
    Decision::Allow {
        mailbox: counted(mailbox),
        requester: counted(requester),
    }
}

#[test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs TEST_DATABASE_URL (a PostgreSQL server)"
)]
fn postgres_decides_the_send_limits_exactly_as_throttle_decide_does() {
    let db = TestDb::create(Backend::Postgres);
    let mut conn =
        signup_otp::db::DbConnection::Pg(PgConnection::establish(&db.url_string).unwrap());
    signup_otp::db::run_migrations(&mut conn).expect("the migrations run");
    let signup_otp::db::DbConnection::Pg(mut conn) = conn else {
        unreachable!("a PostgreSQL connection")
    };
    let mailboxes = records(&[(0, 0), (1, 7), (3, 8), (9, 9)]);
    let requesters = records(&[(2, 4), (3, 5), (4, 6)]);
    let policies = [
        policy(Duration::from_secs(60), 3, 5, 8),
        policy(Duration::ZERO, 3, 5, 8),
        policy(Duration::from_micros(90_500_001), 1, 1, 1),
    ];
    let (mut cases, mut refused) = (0, 0);
    // Every mailbox record against a spread of requester records, and back.
    for policy in &policies {
        for (i, mailbox) in mailboxes.iter().enumerate() {
            for requester in requesters.iter().skip(i % 7).step_by(23) {
                let rust = throttle::decide(mailbox.as_ref(), requester.as_ref(), now(), policy);
                let sql = database(&mut conn, mailbox.as_ref(), requester.as_ref(), policy);
                assert_eq!(
                    sql, rust,
                    "mailbox {mailbox:?}, requester {requester:?}, {policy:?}"
                );
                cases += 1;
                refused += usize::from(matches!(rust, Decision::Deny { .. }));
            }
        }
    }
    assert!(cases > 2_000, "{cases} cases");
    assert!(
        refused > cases / 10 && refused < cases * 9 / 10,
        "{refused} of {cases} refused"
    );
}
