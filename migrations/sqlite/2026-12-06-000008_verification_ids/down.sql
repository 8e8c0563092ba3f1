ALTER TABLE otps DROP COLUMN holder_attempts;
ALTER TABLE otps DROP COLUMN verification_hash;
ALTER TABLE signup_otps DROP COLUMN holder_attempts;
ALTER TABLE signup_otps DROP COLUMN verification_hash;
