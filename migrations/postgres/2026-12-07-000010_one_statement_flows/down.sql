DROP FUNCTION signup_otp_register;
DROP FUNCTION signup_otp_verify;
DROP FUNCTION signup_otp_check;
DROP FUNCTION signup_otp_send;
DROP FUNCTION signup_otp_throttle;
DROP FUNCTION signup_otp_counted;
