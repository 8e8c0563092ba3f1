ALTER TABLE demo_users DROP COLUMN full_name;
ALTER TABLE users DROP COLUMN full_name;
