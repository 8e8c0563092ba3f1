-- Proof of an address, and who may set a password on it.
--
-- A signup token is random; only its SHA-256 is kept. verify-otp writes one when a
-- right code does not finish a registration by itself; register takes it (once)
-- to create the account, or to activate an inactive one with a new password.
-- A later re-send does not touch it: only its holder can use it, until expires_at.
CREATE TABLE signup_tokens (
    token_hash BYTEA PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    verified_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT signup_tokens_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_signup_tokens_identity ON signup_tokens (email, user_type);
CREATE INDEX ix_signup_tokens_expires_at ON signup_tokens (expires_at);

-- Registrations waiting for their code. Register without a signup token creates
-- no account: it keeps the password hash here, under the SHA-256 of the
-- registration_id it answers with, and only a verify-otp that carries the same
-- registration_id with the right code turns it into the account's password.
CREATE TABLE pending_registrations (
    registration_hash BYTEA PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    full_name VARCHAR(255),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT pending_registrations_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_pending_registrations_identity ON pending_registrations (email, user_type);
CREATE INDEX ix_pending_registrations_expires_at ON pending_registrations (expires_at);

-- Send limits per mailbox (`email` is now the canonical mailbox: sub-address tags
-- and Gmail's dots removed) and per requester. The row with requester '' holds
-- the mailbox-wide cooldown and daily ceiling; one row per requester (client
-- network) holds that requester's hourly and daily caps.
ALTER TABLE otp_send_limits ADD COLUMN requester VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE otp_send_limits DROP CONSTRAINT otp_send_limits_pkey;
ALTER TABLE otp_send_limits ADD PRIMARY KEY (email, user_type, requester);

-- Wrong-code lockouts per identity and requester, so that a stranger's guesses
-- lock the stranger's network out, not the owner. `lockouts` counts the locks
-- this row has started, to tell a recurring attack.
ALTER TABLE verify_lockouts ADD COLUMN requester VARCHAR(64) NOT NULL DEFAULT '';
ALTER TABLE verify_lockouts ADD COLUMN lockouts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE verify_lockouts DROP CONSTRAINT verify_lockouts_pkey;
ALTER TABLE verify_lockouts ADD PRIMARY KEY (email, user_type, requester);

-- Stored answers are scoped to the identity the request was about: one client's
-- Idempotency-Key never answers a request about another address. A cache, so its
-- rows are not carried over.
DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    route VARCHAR(64) NOT NULL,
    scope BYTEA NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    fingerprint BYTEA NOT NULL,
    status_code INTEGER,
    response BYTEA,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (route, scope, idempotency_key)
);
CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- What import-redis has imported (a keyed hash of the identity and the code), until
-- the Redis key would have expired, so that running it again revives nothing.
CREATE TABLE redis_imports (
    fingerprint BYTEA PRIMARY KEY,
    imported_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_redis_imports_expires_at ON redis_imports (expires_at);
