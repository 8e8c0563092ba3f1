//! Every migration runs up, down and up again on each backend.

use std::time::Duration;

use diesel::prelude::*;
use signup_otp::db::{self, schema};

use crate::helpers::TestDb;
use crate::on_both_backends;

const TABLES: usize = 5;

fn tables_answer(conn: &mut db::DbConnection) -> usize {
    [
        schema::users::table.count().get_result::<i64>(conn).is_ok(),
        schema::demo_users::table
            .count()
            .get_result::<i64>(conn)
            .is_ok(),
        schema::signup_otps::table
            .count()
            .get_result::<i64>(conn)
            .is_ok(),
        schema::otps::table.count().get_result::<i64>(conn).is_ok(),
        schema::otp_send_limits::table
            .count()
            .get_result::<i64>(conn)
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
        assert_eq!(applied.len(), 3);
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
}
