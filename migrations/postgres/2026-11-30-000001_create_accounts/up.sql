-- Accounts. Live users and demo users are separate tables, as in the platform this
-- service serves. Every timestamp is UTC in a TIMESTAMP column: the service writes
-- them from its own clock and every connection runs with the session zone set to UTC.

CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL DEFAULT 'live',
    hashed_password VARCHAR(255),
    is_active BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT (NOW() AT TIME ZONE 'UTC'),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_user_type_check CHECK (user_type = 'live')
);

CREATE TABLE demo_users (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    hashed_password VARCHAR(255),
    is_active BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL DEFAULT (NOW() AT TIME ZONE 'UTC'),
    CONSTRAINT demo_users_email_key UNIQUE (email)
);
