DROP TABLE otp_send_limits;
DROP TABLE otps;
DROP TABLE signup_otps;
