//! Integration tests: the service through HTTP, on a fresh database per test, on
//! SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

#![allow(clippy::unwrap_used)]

mod helpers;

mod activation;
mod attacks;
mod binary;
mod cli;
mod container;
mod cors;
mod error_bodies;
mod errors;
mod headers;
mod health;
mod idempotency;
mod locales;
mod lockout;
mod migrations;
mod openapi;
mod operations;
mod outbox;
mod rate_limits;
mod redis_import;
mod register;
mod rotation;
mod send_otp;
mod signup;
mod statements;
mod storage;
mod support;
mod try_page;
mod two_instances;
