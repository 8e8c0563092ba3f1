-- The client that asked for a code gets an id for it (the registration_id, for a
-- register). A verify that carries it spends the holder's own attempts, which
-- nobody else can spend: a stranger guessing at the address cannot use up the
-- attempts of the owner's code.
ALTER TABLE signup_otps ADD COLUMN verification_hash BYTEA;
ALTER TABLE signup_otps ADD COLUMN holder_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE otps ADD COLUMN verification_hash BYTEA;
ALTER TABLE otps ADD COLUMN holder_attempts INTEGER NOT NULL DEFAULT 0;
