use crate::helpers::TestApp;
use crate::on_both_backends;

on_both_backends! {
    async fn health_says_the_process_is_up(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app.get("/health").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.body["status"], "ok");
    }

    async fn readiness_says_the_database_answers(backend) {
        let app = TestApp::spawn(backend).await;
        let response = app.get("/health/ready").await;
        assert_eq!(response.status, 200);
        assert_eq!(response.body["status"], "ready");
        assert_eq!(response.body["database"], "ok");
        assert_eq!(response.body["outbox"]["backlog"], 0);
        assert_eq!(response.body["outbox"]["oldest_age_secs"], serde_json::Value::Null);
    }
}
