-- PostgreSQL gets functions here that run send-otp and verify-otp as one
-- statement each. SQLite runs in-process, with no round trips to save: its
-- flows stay as Rust over the same tables, and nothing changes here.
SELECT 1;
