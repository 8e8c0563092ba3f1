DROP TABLE demo_users;
DROP TABLE users;
