-- The name a person gives at registration (optional).
ALTER TABLE users ADD COLUMN full_name VARCHAR(255);
ALTER TABLE demo_users ADD COLUMN full_name VARCHAR(255);
