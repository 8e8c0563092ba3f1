// @generated automatically by Diesel CLI.

diesel::table! {
    demo_users (id) {
        id -> Int4,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 255]
        hashed_password -> Nullable<Varchar>,
        is_active -> Bool,
        created_at -> Timestamp,
        #[max_length = 255]
        full_name -> Nullable<Varchar>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Int8,
        #[max_length = 32]
        kind -> Varchar,
        #[max_length = 255]
        recipient -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        payload -> Nullable<Bytea>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Int4,
        #[max_length = 500]
        last_error -> Nullable<Varchar>,
        #[max_length = 16]
        status -> Varchar,
        finished_at -> Nullable<Timestamp>,
        #[max_length = 500]
        relay_reply -> Nullable<Varchar>,
    }
}

diesel::table! {
    idempotency_keys (route, scope, idempotency_key) {
        #[max_length = 64]
        route -> Varchar,
        scope -> Bytea,
        #[max_length = 255]
        idempotency_key -> Varchar,
        fingerprint -> Bytea,
        status_code -> Nullable<Int4>,
        response -> Nullable<Bytea>,
        locked_until -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    otp_send_limits (email, user_type, requester) {
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        last_sent_at -> Timestamp,
        window_started_at -> Timestamp,
        sends_in_window -> Int4,
        day_started_at -> Nullable<Timestamp>,
        sends_in_day -> Int4,
        #[max_length = 64]
        requester -> Varchar,
    }
}

diesel::table! {
    otps (id) {
        id -> Int4,
        user_id -> Nullable<Int4>,
        demo_user_id -> Nullable<Int4>,
        otp_hash -> Bytea,
        attempts -> Int4,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        verification_hash -> Nullable<Bytea>,
        holder_attempts -> Int4,
    }
}

diesel::table! {
    pending_registrations (registration_hash) {
        registration_hash -> Bytea,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        #[max_length = 255]
        hashed_password -> Varchar,
        #[max_length = 255]
        full_name -> Nullable<Varchar>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    redis_imports (fingerprint) {
        fingerprint -> Bytea,
        imported_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    signup_otps (id) {
        id -> Int4,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        otp_hash -> Bytea,
        attempts -> Int4,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        is_verified -> Bool,
        verified_at -> Nullable<Timestamp>,
        user_id -> Nullable<Int4>,
        demo_user_id -> Nullable<Int4>,
        verification_hash -> Nullable<Bytea>,
        holder_attempts -> Int4,
    }
}

diesel::table! {
    signup_tokens (token_hash) {
        token_hash -> Bytea,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        verified_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Int4,
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        #[max_length = 255]
        hashed_password -> Nullable<Varchar>,
        is_active -> Bool,
        created_at -> Timestamp,
        #[max_length = 255]
        full_name -> Nullable<Varchar>,
    }
}

diesel::table! {
    verify_lockouts (email, user_type, requester) {
        #[max_length = 255]
        email -> Varchar,
        #[max_length = 20]
        user_type -> Varchar,
        consecutive_failures -> Int4,
        locked_until -> Nullable<Timestamp>,
        last_failure_at -> Timestamp,
        #[max_length = 64]
        requester -> Varchar,
        lockouts -> Int4,
    }
}

diesel::joinable!(otps -> demo_users (demo_user_id));
diesel::joinable!(otps -> users (user_id));
diesel::joinable!(signup_otps -> demo_users (demo_user_id));
diesel::joinable!(signup_otps -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    demo_users,
    email_outbox,
    idempotency_keys,
    otp_send_limits,
    otps,
    pending_registrations,
    redis_imports,
    signup_otps,
    signup_tokens,
    users,
    verify_lockouts,
);
