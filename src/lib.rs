//! signup-otp: email one-time passwords for account signup, for live and demo
//! accounts, over REST, on SQLite or PostgreSQL.
//!
//! Layers, each calling only downward: [`db`] (pool, migrations, schema,
//! models), with [`mail`] and the [`courier`] beside it → [`flows`] (issue,
//! verify, register, cleanup, the Redis import), with [`idempotency`] (the
//! response cache for retries, and its table) beside them → [`http`] (routes,
//! errors, the client's address, middleware, OpenAPI) → [`config`] (every
//! setting declared once, composed from the types each layer owns: the
//! database URL, the mail transport, the code policy, the rate limits) →
//! [`startup`] and [`cli`], which the binary dispatches to. [`domain`] (values
//! checked at the edge), [`keys`] (the secret and what is derived from it),
//! [`clock`], [`events`], [`metrics`] and [`telemetry`] are used by all.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod clock;
pub mod config;
pub mod courier;
pub mod db;
pub mod domain;
pub mod events;
pub mod flows;
pub mod http;
pub mod idempotency;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod schema;
pub mod startup;
pub mod telemetry;
