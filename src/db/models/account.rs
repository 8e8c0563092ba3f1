//! Live accounts (`users`) and demo accounts (`demo_users`), and the small view of
//! either that the OTP flows need.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::sql::{Bind, Statement};

use crate::db::DbConnection;
use crate::db::schema::{demo_users, users};
use crate::domain::{EmailAddress, UserType};

/// A live account.
#[derive(Queryable, Selectable, Identifiable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct User {
    pub id: i32,
    pub email: String,
    pub user_type: String,
    pub hashed_password: Option<String>,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    pub full_name: Option<String>,
}

/// A demo account.
#[derive(Queryable, Selectable, Identifiable)]
#[diesel(table_name = demo_users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct DemoUser {
    pub id: i32,
    pub email: String,
    pub hashed_password: Option<String>,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
    pub full_name: Option<String>,
}

/// Which table an account lives in, and its id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountId {
    Live(i32),
    Demo(i32),
}

/// What the OTP flows need to know about an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub is_active: bool,
}

impl Account {
    /// The account of `user_type` registered under `email`, if any.
    pub fn find(
        conn: &mut DbConnection,
        user_type: UserType,
        email: &EmailAddress,
    ) -> QueryResult<Option<Account>> {
        Ok(match user_type {
            UserType::Live => users::table
                .filter(users::email.eq(email.as_str()))
                .select((users::id, users::is_active))
                .first::<(i32, bool)>(conn)
                .optional()?
                .map(|(id, is_active)| Account {
                    id: AccountId::Live(id),
                    is_active,
                }),
            UserType::Demo => demo_users::table
                .filter(demo_users::email.eq(email.as_str()))
                .select((demo_users::id, demo_users::is_active))
                .first::<(i32, bool)>(conn)
                .optional()?
                .map(|(id, is_active)| Account {
                    id: AccountId::Demo(id),
                    is_active,
                }),
        })
    }

    /// Marks the account active; returns whether it was inactive before.
    pub fn activate(conn: &mut DbConnection, id: AccountId) -> QueryResult<bool> {
        let changed = match id {
            AccountId::Live(id) => Statement::new(
                "UPDATE users SET is_active = ? WHERE id = ? AND is_active = ?",
                vec![Bind::Bool(true), Bind::Int(id), Bind::Bool(false)],
            )
            .execute(conn)?,
            AccountId::Demo(id) => Statement::new(
                "UPDATE demo_users SET is_active = ? WHERE id = ? AND is_active = ?",
                vec![Bind::Bool(true), Bind::Int(id), Bind::Bool(false)],
            )
            .execute(conn)?,
        };
        Ok(changed == 1)
    }
}

/// A new account of either type.
pub struct NewAccount<'a> {
    pub user_type: UserType,
    pub email: &'a EmailAddress,
    pub hashed_password: Option<&'a str>,
    pub full_name: Option<&'a str>,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
}

/// An account as clients may see it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    pub id: AccountId,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub created_at: NaiveDateTime,
}

impl AccountRecord {
    pub fn user_type(&self) -> UserType {
        match self.id {
            AccountId::Live(_) => UserType::Live,
            AccountId::Demo(_) => UserType::Demo,
        }
    }

    pub fn numeric_id(&self) -> i32 {
        match self.id {
            AccountId::Live(id) | AccountId::Demo(id) => id,
        }
    }
}

impl NewAccount<'_> {
    /// Inserts the account; a second account for the same email and type is a
    /// unique violation.
    pub fn insert(&self, conn: &mut DbConnection) -> QueryResult<AccountRecord> {
        let id = match self.user_type {
            UserType::Live => AccountId::Live(
                diesel::insert_into(users::table)
                    .values((
                        users::email.eq(self.email.as_str()),
                        users::user_type.eq(UserType::Live.as_str()),
                        users::hashed_password.eq(self.hashed_password),
                        users::full_name.eq(self.full_name),
                        users::is_active.eq(self.is_active),
                        users::created_at.eq(self.created_at),
                    ))
                    .returning(users::id)
                    .get_result(conn)?,
            ),
            UserType::Demo => AccountId::Demo(
                diesel::insert_into(demo_users::table)
                    .values((
                        demo_users::email.eq(self.email.as_str()),
                        demo_users::hashed_password.eq(self.hashed_password),
                        demo_users::full_name.eq(self.full_name),
                        demo_users::is_active.eq(self.is_active),
                        demo_users::created_at.eq(self.created_at),
                    ))
                    .returning(demo_users::id)
                    .get_result(conn)?,
            ),
        };
        Ok(AccountRecord {
            id,
            email: self.email.as_str().to_owned(),
            full_name: self.full_name.map(str::to_owned),
            is_active: self.is_active,
            created_at: self.created_at,
        })
    }
}
