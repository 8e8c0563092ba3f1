//! Per-identity protection: consecutive wrong codes lock verification, and a
//! daily cap sits on top of the hourly one.

use std::time::Duration;

use crate::helpers::{TestApp, wrong_code};
use crate::on_both_backends;

impl TestApp {
    /// Sends a fresh code (after the cooldown) and spends `wrong` wrong guesses on it.
    async fn guess_wrong(&self, email: &str, user_type: &str, wrong: usize) -> String {
        self.advance(Duration::from_secs(61));
        let code = self.send_and_read_code(email, user_type).await;
        for _ in 0..wrong {
            self.verify_otp(email, user_type, &wrong_code(&code))
                .await
                .assert_error(400, "invalid_otp");
        }
        code
    }
}

on_both_backends! {
    async fn ten_wrong_codes_across_resends_lock_verification_for_an_hour(backend) {
        let app = TestApp::spawn(backend).await;
        app.guess_wrong("target@example.com", "live", 5).await;
        app.guess_wrong("target@example.com", "live", 5).await;

        let right = app.guess_wrong("target@example.com", "live", 0).await;
        let locked = app.verify_otp("target@example.com", "live", &right).await;

        locked.assert_error(429, "verification_locked");
        let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
        assert!((3500..=3600).contains(&retry_after), "{retry_after}");
        let demo = app.guess_wrong("target@example.com", "demo", 0).await;
        assert_eq!(
            app.verify_otp("target@example.com", "demo", &demo).await.status,
            200,
            "the demo identity is not locked"
        );

        app.advance(Duration::from_secs(3600));
        let after = app.guess_wrong("target@example.com", "live", 0).await;
        assert_eq!(app.verify_otp("target@example.com", "live", &after).await.status, 200);
    }

    async fn a_right_code_resets_the_count(backend) {
        let app = TestApp::spawn(backend).await;
        app.guess_wrong("steady@example.com", "demo", 5).await;
        let code = app.guess_wrong("steady@example.com", "demo", 4).await;
        assert_eq!(app.verify_otp("steady@example.com", "demo", &code).await.status, 200);

        app.guess_wrong("steady@example.com", "demo", 5).await;
        let code = app.guess_wrong("steady@example.com", "demo", 4).await;
        assert_eq!(
            app.verify_otp("steady@example.com", "demo", &code).await.status,
            200,
            "nine wrong codes since the last right one do not lock"
        );
    }

    async fn sends_are_capped_per_day_on_top_of_the_hour(backend) {
        let app = TestApp::spawn(backend).await;
        // Frozen: the wait compared below is exact however slow the machine is.
        app.clock.freeze();
        for hour in 0..2 {
            for _ in 0..5 {
                assert_eq!(app.send_otp("daily@example.com", "live").await.status, 200);
                app.advance(Duration::from_secs(61));
            }
            if hour == 0 {
                app.advance(Duration::from_secs(3600));
            }
        }
        app.advance(Duration::from_secs(3600));

        let capped = app.send_otp("daily@example.com", "live").await;

        capped.assert_error(429, "send_limit_reached");
        let retry_after: u64 = capped.header("retry-after").unwrap().parse().unwrap();
        let elapsed = 10 * 61 + 2 * 3600;
        assert_eq!(retry_after, 24 * 3600 - elapsed);
    }
}
