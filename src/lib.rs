//! signup-otp: email one-time passwords for account signup, for live and demo
//! accounts, over REST, on SQLite or PostgreSQL.
//!
//! Layers, each calling only downward: [`config`] → [`db`] (pool, migrations,
//! schema, models) and [`mail`] → [`flows`] (issue, verify, activate, register) → [`http`] (routes and
//! errors) → [`startup`] and the binary's CLI.

pub mod cli;
pub mod clock;
pub mod config;
pub mod courier;
pub mod db;
pub mod domain;
pub mod events;
pub mod flows;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod schema;
pub mod startup;
pub mod telemetry;
