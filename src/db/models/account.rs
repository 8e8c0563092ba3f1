//! Live accounts (`users`) and demo accounts (`demo_users`), and the small view of
//! either that the OTP flows need.

use chrono::NaiveDateTime;
use diesel::prelude::*;

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
    /// The account with when it was created (support's view).
    pub fn find_with_created_at(
        conn: &mut DbConnection,
        user_type: UserType,
        email: &EmailAddress,
    ) -> QueryResult<Option<(Account, NaiveDateTime)>> {
        Ok(match user_type {
            UserType::Live => users::table
                .filter(users::email.eq(email.as_str()))
                .select((users::id, users::is_active, users::created_at))
                .first::<(i32, bool, NaiveDateTime)>(conn)
                .optional()?
                .map(|(id, is_active, created_at)| {
                    let id = AccountId::Live(id);
                    (Account { id, is_active }, created_at)
                }),
            UserType::Demo => demo_users::table
                .filter(demo_users::email.eq(email.as_str()))
                .select((
                    demo_users::id,
                    demo_users::is_active,
                    demo_users::created_at,
                ))
                .first::<(i32, bool, NaiveDateTime)>(conn)
                .optional()?
                .map(|(id, is_active, created_at)| {
                    let id = AccountId::Demo(id);
                    (Account { id, is_active }, created_at)
                }),
        })
    }

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

    /// Activates an inactive account with a password chosen by someone who has
    /// just proven the address (and its name, when they gave one); returns the
    /// account, or `None` if it was not inactive (a concurrent request won).
    /// Whatever password it held before is gone: nobody proved it.
    pub fn activate_with_password(
        conn: &mut DbConnection,
        id: AccountId,
        hashed_password: &str,
        full_name: Option<&str>,
    ) -> QueryResult<Option<AccountRecord>> {
        type Row = (String, Option<String>, NaiveDateTime);
        let row: Option<Row> = match id {
            AccountId::Live(id) => diesel::update(
                users::table
                    .filter(users::id.eq(id))
                    .filter(users::is_active.eq(false)),
            )
            .set((
                users::is_active.eq(true),
                users::hashed_password.eq(hashed_password),
            ))
            .returning((users::email, users::full_name, users::created_at))
            .get_result(conn)
            .optional()?,
            AccountId::Demo(id) => diesel::update(
                demo_users::table
                    .filter(demo_users::id.eq(id))
                    .filter(demo_users::is_active.eq(false)),
            )
            .set((
                demo_users::is_active.eq(true),
                demo_users::hashed_password.eq(hashed_password),
            ))
            .returning((
                demo_users::email,
                demo_users::full_name,
                demo_users::created_at,
            ))
            .get_result(conn)
            .optional()?,
        };
        let Some((email, old_name, created_at)) = row else {
            return Ok(None);
        };
        if let Some(name) = full_name {
            match id {
                AccountId::Live(id) => diesel::update(users::table.find(id))
                    .set(users::full_name.eq(name))
                    .execute(conn)?,
                AccountId::Demo(id) => diesel::update(demo_users::table.find(id))
                    .set(demo_users::full_name.eq(name))
                    .execute(conn)?,
            };
        }
        Ok(Some(AccountRecord {
            id,
            email,
            full_name: full_name.map(str::to_owned).or(old_name),
            is_active: true,
            created_at,
        }))
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
