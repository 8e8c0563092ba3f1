-- send-otp and verify-otp as one statement each, so that a request costs one
-- round trip to PostgreSQL (a function call runs as one statement, in its own
-- transaction). The decisions are the ones src/flows/throttle.rs and
-- src/flows/verify.rs make on SQLite; tests run both backends through the same
-- HTTP cases, and signup_otp_throttle against throttle::decide case by case.

-- The record after one more send at now_ (throttle::counted). A NULL
-- last_sent_at means there is no record yet.
CREATE FUNCTION signup_otp_counted(
    last_sent_at timestamp, window_started_at timestamp, sends_in_window integer,
    day_started_at timestamp, sends_in_day integer, now_ timestamp,
    OUT n_last_sent_at timestamp, OUT n_window_started_at timestamp,
    OUT n_sends_in_window integer, OUT n_day_started_at timestamp, OUT n_sends_in_day integer)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    n_last_sent_at := now_;
    IF last_sent_at IS NULL THEN
        n_window_started_at := now_;
        n_sends_in_window := 1;
        n_day_started_at := now_;
        n_sends_in_day := 1;
        RETURN;
    END IF;
    IF now_ < window_started_at + interval '3600 seconds' THEN
        n_window_started_at := window_started_at;
        n_sends_in_window := greatest(sends_in_window, 0) + 1;
    ELSE
        n_window_started_at := now_;
        n_sends_in_window := 1;
    END IF;
    IF day_started_at IS NOT NULL AND now_ < day_started_at + interval '86400 seconds' THEN
        n_day_started_at := day_started_at;
        n_sends_in_day := greatest(sends_in_day, 0) + 1;
    ELSE
        n_day_started_at := now_;
        n_sends_in_day := 1;
    END IF;
END
$$;

-- Whether a send may go out at now_ (throttle::decide): NULL reason to send,
-- else why not and the Retry-After in seconds. When several limits refuse, the
-- one that lasts longest answers (on a tie, the later in this order).
CREATE FUNCTION signup_otp_throttle(
    m_last_sent_at timestamp, m_day_started_at timestamp, m_sends_in_day integer,
    r_last_sent_at timestamp, r_window_started_at timestamp, r_sends_in_window integer,
    r_day_started_at timestamp, r_sends_in_day integer,
    now_ timestamp, cooldown_us bigint, max_sends_per_hour integer,
    max_sends_per_day integer, mailbox_sends_per_day integer,
    OUT reason text, OUT retry_after_secs bigint)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    until_ timestamp;
    step bigint := 0;
    candidate timestamp;
    wait_us bigint;
BEGIN
    IF m_last_sent_at IS NOT NULL THEN
        candidate := m_last_sent_at + cooldown_us * interval '1 microsecond';
        IF now_ < candidate THEN
            reason := 'cooldown'; until_ := candidate; step := 30;
        END IF;
        candidate := m_day_started_at + interval '86400 seconds';
        IF now_ < candidate AND greatest(m_sends_in_day, 0) >= mailbox_sends_per_day
           AND (until_ IS NULL OR candidate >= until_) THEN
            reason := 'mailbox_ceiling'; until_ := candidate; step := 900;
        END IF;
    END IF;
    IF r_last_sent_at IS NOT NULL THEN
        candidate := r_window_started_at + interval '3600 seconds';
        IF now_ < candidate AND greatest(r_sends_in_window, 0) >= max_sends_per_hour
           AND (until_ IS NULL OR candidate >= until_) THEN
            reason := 'hourly_cap'; until_ := candidate; step := 0;
        END IF;
        candidate := r_day_started_at + interval '86400 seconds';
        IF now_ < candidate AND greatest(r_sends_in_day, 0) >= max_sends_per_day
           AND (until_ IS NULL OR candidate >= until_) THEN
            reason := 'daily_cap'; until_ := candidate; step := 0;
        END IF;
    END IF;
    IF reason IS NULL THEN
        RETURN;
    END IF;
    -- whole_seconds_until, then rounded up to whole steps (flows::throttle::round_up)
    wait_us := greatest((extract(epoch FROM until_ - now_) * 1000000)::bigint, 0);
    retry_after_secs := greatest((wait_us + 999999) / 1000000, 1);
    IF step > 0 THEN
        retry_after_secs := greatest((retry_after_secs + step - 1) / step, 1) * step;
    END IF;
END
$$;

-- One send (flows::issue): the send limits, the pending registration of a
-- register without a token, the code where the address's case says, and its
-- email in the outbox. outcome is 'signup', 'activation' or 'account_exists',
-- or the throttle's reason with retry_after_secs. The caller seals the three
-- possible emails; the case picks one, so the statement never sees a code.
CREATE FUNCTION signup_otp_send(
    p_email text, p_mailbox text, p_user_type text, p_requester text,
    p_now timestamp, p_expires_at timestamp,
    p_cooldown_us bigint, p_max_sends_per_hour integer, p_max_sends_per_day integer,
    p_mailbox_sends_per_day integer,
    p_hash bytea, p_decoy bytea, p_verification_hash bytea,
    p_signup_email bytea, p_activation_email bytea, p_exists_email bytea,
    p_registration_hash bytea, p_hashed_password text, p_full_name text,
    p_registration_expires_at timestamp,
    OUT outcome text, OUT retry_after_secs bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_mailbox otp_send_limits%ROWTYPE;
    v_own otp_send_limits%ROWTYPE;
    v_refusal record;
    v_next record;
    v_account_id integer;
    v_active boolean;
    v_kind varchar;
    v_payload bytea;
    v_tries integer := 0;
BEGIN
    -- The mailbox-wide record is locked first: concurrent sends to one mailbox
    -- queue on it, and each decides on the state the one before it left.
    LOOP
        v_tries := v_tries + 1;
        SELECT * INTO v_mailbox FROM otp_send_limits
            WHERE email = p_mailbox AND user_type = p_user_type AND requester = ''
            FOR UPDATE;
        SELECT * INTO v_own FROM otp_send_limits
            WHERE email = p_mailbox AND user_type = p_user_type AND requester = p_requester;
        v_refusal := signup_otp_throttle(
            v_mailbox.last_sent_at, v_mailbox.day_started_at, v_mailbox.sends_in_day,
            v_own.last_sent_at, v_own.window_started_at, v_own.sends_in_window,
            v_own.day_started_at, v_own.sends_in_day,
            p_now, p_cooldown_us, p_max_sends_per_hour, p_max_sends_per_day,
            p_mailbox_sends_per_day);
        IF v_refusal.reason IS NOT NULL THEN
            outcome := v_refusal.reason;
            retry_after_secs := v_refusal.retry_after_secs;
            RETURN;
        END IF;
        v_next := signup_otp_counted(
            v_mailbox.last_sent_at, v_mailbox.window_started_at, v_mailbox.sends_in_window,
            v_mailbox.day_started_at, v_mailbox.sends_in_day, p_now);
        IF v_mailbox.email IS NOT NULL THEN
            UPDATE otp_send_limits SET last_sent_at = v_next.n_last_sent_at,
                window_started_at = v_next.n_window_started_at,
                sends_in_window = v_next.n_sends_in_window,
                day_started_at = v_next.n_day_started_at, sends_in_day = v_next.n_sends_in_day
                WHERE email = p_mailbox AND user_type = p_user_type AND requester = '';
            EXIT;
        END IF;
        INSERT INTO otp_send_limits (email, user_type, requester, last_sent_at,
                window_started_at, sends_in_window, day_started_at, sends_in_day)
            VALUES (p_mailbox, p_user_type, '', v_next.n_last_sent_at,
                v_next.n_window_started_at, v_next.n_sends_in_window,
                v_next.n_day_started_at, v_next.n_sends_in_day)
            ON CONFLICT DO NOTHING;
        EXIT WHEN FOUND;
        -- Another send made the record first: still contended after a few
        -- rounds, someone is sending right now, which the cooldown is for.
        IF v_tries >= 3 THEN
            outcome := 'cooldown';
            retry_after_secs := greatest((p_cooldown_us + 999999) / 1000000, 1);
            RETURN;
        END IF;
    END LOOP;
    v_next := signup_otp_counted(
        v_own.last_sent_at, v_own.window_started_at, v_own.sends_in_window,
        v_own.day_started_at, v_own.sends_in_day, p_now);
    INSERT INTO otp_send_limits (email, user_type, requester, last_sent_at, window_started_at,
            sends_in_window, day_started_at, sends_in_day)
        VALUES (p_mailbox, p_user_type, p_requester, v_next.n_last_sent_at,
            v_next.n_window_started_at, v_next.n_sends_in_window, v_next.n_day_started_at,
            v_next.n_sends_in_day)
        ON CONFLICT (email, user_type, requester) DO UPDATE SET
            last_sent_at = excluded.last_sent_at, window_started_at = excluded.window_started_at,
            sends_in_window = excluded.sends_in_window, day_started_at = excluded.day_started_at,
            sends_in_day = excluded.sends_in_day;

    IF p_registration_hash IS NOT NULL THEN
        INSERT INTO pending_registrations (registration_hash, email, user_type, hashed_password,
                full_name, created_at, expires_at)
            VALUES (p_registration_hash, p_email, p_user_type, p_hashed_password, p_full_name,
                p_now, p_registration_expires_at);
    END IF;

    IF p_user_type = 'live' THEN
        SELECT id, is_active INTO v_account_id, v_active FROM users WHERE email = p_email;
    ELSE
        SELECT id, is_active INTO v_account_id, v_active FROM demo_users WHERE email = p_email;
    END IF;
    -- The address's pending signup code, if any: replaced for a new address; of
    -- no use any more to one that has an account.
    DELETE FROM signup_otps WHERE email = p_email AND user_type = p_user_type
        AND user_id IS NULL AND demo_user_id IS NULL;
    IF v_account_id IS NULL THEN
        INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, expires_at,
                is_verified, verified_at, verification_hash, holder_attempts)
            VALUES (p_email, p_user_type, p_hash, 0, p_now, p_expires_at, false, NULL,
                p_verification_hash, 0)
            ON CONFLICT (email, user_type) DO UPDATE SET otp_hash = excluded.otp_hash,
                attempts = 0, created_at = excluded.created_at,
                expires_at = excluded.expires_at, is_verified = false, verified_at = NULL,
                verification_hash = excluded.verification_hash, holder_attempts = 0;
        outcome := 'signup'; v_kind := 'signup_code'; v_payload := p_signup_email;
    ELSE
        IF v_active THEN
            outcome := 'account_exists'; v_kind := 'account_exists'; v_payload := p_exists_email;
        ELSE
            outcome := 'activation'; v_kind := 'activation_code'; v_payload := p_activation_email;
        END IF;
        IF p_user_type = 'live' THEN
            INSERT INTO otps (user_id, otp_hash, attempts, created_at, expires_at,
                    verification_hash, holder_attempts)
                VALUES (v_account_id, CASE WHEN v_active THEN p_decoy ELSE p_hash END, 0,
                    p_now, p_expires_at, p_verification_hash, 0)
                ON CONFLICT (user_id) DO UPDATE SET otp_hash = excluded.otp_hash,
                    attempts = 0, created_at = excluded.created_at,
                    expires_at = excluded.expires_at,
                    verification_hash = excluded.verification_hash, holder_attempts = 0;
        ELSE
            INSERT INTO otps (demo_user_id, otp_hash, attempts, created_at, expires_at,
                    verification_hash, holder_attempts)
                VALUES (v_account_id, CASE WHEN v_active THEN p_decoy ELSE p_hash END, 0,
                    p_now, p_expires_at, p_verification_hash, 0)
                ON CONFLICT (demo_user_id) DO UPDATE SET otp_hash = excluded.otp_hash,
                    attempts = 0, created_at = excluded.created_at,
                    expires_at = excluded.expires_at,
                    verification_hash = excluded.verification_hash, holder_attempts = 0;
        END IF;
    END IF;
    UPDATE email_outbox SET status = 'replaced', payload = NULL, finished_at = p_now
        WHERE recipient = p_email AND user_type = p_user_type
        AND status IN ('queued', 'retrying');
    INSERT INTO email_outbox (kind, recipient, user_type, payload, created_at, expires_at,
            next_attempt_at)
        VALUES (v_kind, p_email, p_user_type, v_payload, p_now, p_expires_at, p_now);
END
$$;

-- Whether a stored code hash is the code the caller hashed (OtpHasher::check):
-- 'right', 'wrong', or 'unreadable' (made under a key the service no longer
-- holds). p_key_ids holds the service's 4-byte key ids one after the other;
-- p_blinded the code's MAC under each of those keys, in the same order, each
-- blinded as sha256(p_blind || MAC), 32 bytes apiece (NULL when the request
-- carried no code). The stored MAC is blinded the same way before it is
-- compared, so the comparison's time says nothing about the stored hash
-- (p_blind is random per request and never stored).
CREATE FUNCTION signup_otp_check(stored bytea, p_key_ids bytea, p_blinded bytea, p_blind bytea)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_keys integer := length(p_key_ids) / 4;
    v_right boolean := false;
BEGIN
    IF length(stored) = 36 THEN
        FOR i IN 0 .. v_keys - 1 LOOP
            IF substring(p_key_ids FROM i * 4 + 1 FOR 4) = substring(stored FROM 1 FOR 4) THEN
                RETURN CASE WHEN coalesce(sha256(p_blind || substring(stored FROM 5))
                                          = substring(p_blinded FROM i * 32 + 1 FOR 32), false)
                            THEN 'right' ELSE 'wrong' END;
            END IF;
        END LOOP;
        RETURN 'unreadable';
    ELSIF length(stored) = 32 THEN
        -- A hash from before key ids: any key may have made it.
        FOR i IN 0 .. v_keys - 1 LOOP
            v_right := v_right OR coalesce(sha256(p_blind || stored)
                                           = substring(p_blinded FROM i * 32 + 1 FOR 32), false);
        END LOOP;
        RETURN CASE WHEN v_right THEN 'right' ELSE 'wrong' END;
    END IF;
    RETURN 'unreadable';
END
$$;

-- One verify (flows::verify): the requester's lockout, the identity's live code
-- (signup_otps first, then the account's in otps), one attempt spent or the code
-- consumed with a write conditional on the very hash compared, the lockout
-- counted or cleared, and for a right code either a signup token or the named
-- pending registration turned into the account.
--
-- verdict is 'signup' or 'activation' for a right code, else the reason it was
-- refused (not_found, expired, wrong_code, already_used, too_many_attempts,
-- locked, other_send). A registration that can no longer become the account
-- (the address was registered meanwhile) raises unique_violation, so nothing of
-- the verify is kept.
CREATE FUNCTION signup_otp_verify(
    p_email text, p_user_type text, p_requester text, p_now timestamp,
    p_key_ids bytea, p_blinded bytea, p_blind bytea, p_holder_blinded bytea,
    p_require_verification_id boolean, p_max_attempts integer,
    p_lockout_threshold integer, p_lock_until timestamp,
    p_registration_hash bytea, p_token_hash bytea, p_token_expires_at timestamp,
    p_keep_until timestamp,
    OUT verdict text, OUT locked_until timestamp, OUT new_lock_until timestamp,
    OUT recent_locks bigint, OUT account_id integer, OUT account_email varchar,
    OUT account_full_name varchar, OUT account_created_at timestamp)
LANGUAGE plpgsql AS $$
DECLARE
    v_signup signup_otps%ROWTYPE;
    v_otp otps%ROWTYPE;
    v_account_id integer;
    v_active boolean;
    v_expired boolean := false;
    v_holder boolean;
    v_spent integer;
    v_check text;
    v_table text;
    v_password varchar;
    v_name varchar;
    v_found_pending boolean;
BEGIN
    SELECT l.locked_until INTO locked_until FROM verify_lockouts l
        WHERE l.email = p_email AND l.user_type = p_user_type AND l.requester = p_requester;
    IF locked_until IS NOT NULL AND locked_until > p_now THEN
        verdict := 'locked';
        RETURN;
    END IF;
    locked_until := NULL;

    -- Both lookups run whatever the case, so that the work is the same for an
    -- address with or without an account. The code rows are locked: concurrent
    -- verifies of one identity go one after another, each seeing the attempts
    -- the one before spent. (Read unlocked, a right code that lost the race for
    -- the last attempt answered "invalid" where a wrong one answered "too many
    -- attempts", and a swarm of parallel guesses could find the code without
    -- spending attempts.)
    SELECT * INTO v_signup FROM signup_otps WHERE email = p_email AND user_type = p_user_type
        FOR UPDATE;
    IF p_user_type = 'live' THEN
        SELECT u.id, u.is_active INTO v_account_id, v_active FROM users u WHERE u.email = p_email;
        SELECT * INTO v_otp FROM otps WHERE user_id = v_account_id FOR UPDATE;
    ELSE
        SELECT u.id, u.is_active INTO v_account_id, v_active FROM demo_users u WHERE u.email = p_email;
        SELECT * INTO v_otp FROM otps WHERE demo_user_id = v_account_id FOR UPDATE;
    END IF;

    IF v_signup.id IS NOT NULL THEN
        IF NOT v_signup.is_verified AND v_signup.expires_at > p_now THEN
            v_table := 'signup_otps';
        ELSE
            v_expired := true;
        END IF;
    END IF;
    IF v_table IS NULL AND v_account_id IS NOT NULL AND v_otp.id IS NOT NULL THEN
        IF v_otp.expires_at > p_now THEN
            v_table := 'otps';
        ELSE
            v_expired := true;
        END IF;
    END IF;
    IF v_table IS NULL THEN
        verdict := CASE WHEN v_expired THEN 'expired' ELSE 'not_found' END;
        RETURN;
    END IF;

    IF v_table = 'signup_otps' THEN
        v_holder := coalesce(sha256(p_blind || v_signup.verification_hash) = p_holder_blinded, false);
        v_spent := CASE WHEN v_holder THEN v_signup.holder_attempts ELSE v_signup.attempts END;
        v_check := signup_otp_check(v_signup.otp_hash, p_key_ids, p_blinded, p_blind);
    ELSE
        v_holder := coalesce(sha256(p_blind || v_otp.verification_hash) = p_holder_blinded, false);
        v_spent := CASE WHEN v_holder THEN v_otp.holder_attempts ELSE v_otp.attempts END;
        v_check := signup_otp_check(v_otp.otp_hash, p_key_ids, p_blinded, p_blind);
        -- An active account's stand-in: no code is right for it.
        IF v_check = 'right' AND v_active THEN
            v_check := 'wrong';
        END IF;
    END IF;
    IF NOT v_holder AND p_require_verification_id THEN
        verdict := 'other_send';
        RETURN;
    END IF;
    IF v_spent >= p_max_attempts THEN
        verdict := 'too_many_attempts';
        RETURN;
    END IF;
    IF v_check = 'unreadable' THEN
        verdict := 'expired';
        RETURN;
    END IF;

    IF v_check = 'wrong' THEN
        -- One attempt, on the very hash compared, unless they ran out meanwhile.
        IF v_table = 'signup_otps' AND v_holder THEN
            UPDATE signup_otps SET holder_attempts = holder_attempts + 1
                WHERE id = v_signup.id AND otp_hash = v_signup.otp_hash AND holder_attempts < p_max_attempts;
        ELSIF v_table = 'signup_otps' THEN
            UPDATE signup_otps SET attempts = attempts + 1
                WHERE id = v_signup.id AND otp_hash = v_signup.otp_hash AND attempts < p_max_attempts;
        ELSIF v_holder THEN
            UPDATE otps SET holder_attempts = holder_attempts + 1
                WHERE id = v_otp.id AND otp_hash = v_otp.otp_hash AND holder_attempts < p_max_attempts;
        ELSE
            UPDATE otps SET attempts = attempts + 1
                WHERE id = v_otp.id AND otp_hash = v_otp.otp_hash AND attempts < p_max_attempts;
        END IF;
        IF NOT FOUND THEN
            verdict := 'too_many_attempts';
            RETURN;
        END IF;
        verdict := 'wrong_code';
        INSERT INTO verify_lockouts (email, user_type, requester, consecutive_failures,
                last_failure_at)
            VALUES (p_email, p_user_type, p_requester, 1, p_now)
            ON CONFLICT (email, user_type, requester) DO UPDATE SET
                consecutive_failures = verify_lockouts.consecutive_failures + 1,
                last_failure_at = excluded.last_failure_at;
        UPDATE verify_lockouts SET consecutive_failures = 0, locked_until = p_lock_until,
                lockouts = lockouts + 1
            WHERE email = p_email AND user_type = p_user_type AND requester = p_requester
            AND consecutive_failures >= p_lockout_threshold;
        IF FOUND THEN
            new_lock_until := p_lock_until;
            SELECT coalesce(sum(l.lockouts), 0) INTO recent_locks FROM verify_lockouts l
                WHERE l.email = p_email AND l.user_type = p_user_type;
        END IF;
        RETURN;
    END IF;

    -- The right code: consume it, if nobody did meanwhile.
    IF v_table = 'signup_otps' THEN
        UPDATE signup_otps SET is_verified = true, verified_at = p_now, expires_at = p_keep_until
            WHERE id = v_signup.id AND otp_hash = v_signup.otp_hash AND is_verified = false
            AND expires_at > p_now
            AND (CASE WHEN v_holder THEN holder_attempts ELSE attempts END) < p_max_attempts;
    ELSE
        DELETE FROM otps WHERE id = v_otp.id AND otp_hash = v_otp.otp_hash AND expires_at > p_now
            AND (CASE WHEN v_holder THEN holder_attempts ELSE attempts END) < p_max_attempts;
    END IF;
    IF NOT FOUND THEN
        verdict := 'already_used';
        RETURN;
    END IF;
    verdict := CASE WHEN v_table = 'signup_otps' THEN 'signup' ELSE 'activation' END;
    DELETE FROM verify_lockouts
        WHERE email = p_email AND user_type = p_user_type AND requester = p_requester;

    v_found_pending := false;
    IF p_registration_hash IS NOT NULL THEN
        DELETE FROM pending_registrations
            WHERE registration_hash = p_registration_hash AND email = p_email
            AND user_type = p_user_type AND expires_at > p_now
            RETURNING hashed_password, full_name INTO v_password, v_name;
        v_found_pending := FOUND;
    END IF;
    IF NOT v_found_pending THEN
        INSERT INTO signup_tokens (token_hash, email, user_type, verified_at, expires_at)
            VALUES (p_token_hash, p_email, p_user_type, p_now, p_token_expires_at);
        RETURN;
    END IF;

    IF v_table = 'signup_otps' THEN
        IF p_user_type = 'live' THEN
            INSERT INTO users (email, user_type, hashed_password, full_name, is_active, created_at)
                VALUES (p_email, 'live', v_password, v_name, true, p_now)
                RETURNING id INTO account_id;
            UPDATE signup_otps SET is_verified = true, verified_at = p_now, user_id = account_id
                WHERE email = p_email AND user_type = p_user_type
                AND user_id IS NULL AND demo_user_id IS NULL;
        ELSE
            INSERT INTO demo_users (email, hashed_password, full_name, is_active, created_at)
                VALUES (p_email, v_password, v_name, true, p_now)
                RETURNING id INTO account_id;
            UPDATE signup_otps SET is_verified = true, verified_at = p_now, demo_user_id = account_id
                WHERE email = p_email AND user_type = p_user_type
                AND user_id IS NULL AND demo_user_id IS NULL;
        END IF;
        account_email := p_email;
        account_full_name := v_name;
        account_created_at := p_now;
    ELSE
        IF p_user_type = 'live' THEN
            UPDATE users SET is_active = true, hashed_password = v_password,
                    full_name = coalesce(v_name, full_name)
                WHERE id = v_account_id AND is_active = false
                RETURNING id, email, full_name, created_at
                INTO account_id, account_email, account_full_name, account_created_at;
        ELSE
            UPDATE demo_users SET is_active = true, hashed_password = v_password,
                    full_name = coalesce(v_name, full_name)
                WHERE id = v_account_id AND is_active = false
                RETURNING id, email, full_name, created_at
                INTO account_id, account_email, account_full_name, account_created_at;
        END IF;
        IF NOT FOUND THEN
            RAISE unique_violation USING MESSAGE = 'the account was activated meanwhile';
        END IF;
    END IF;
    DELETE FROM pending_registrations WHERE email = p_email AND user_type = p_user_type;
END
$$;

-- Register with a signup token (flows::register): the token used up, the
-- account created active with the password, or an inactive one activated (its
-- code deleted), pending registrations for the address dropped, and the
-- verified signup code linked. outcome is 'registered', or 'invalid_token' when
-- the token is unknown, used or expired. An address registered meanwhile raises
-- unique_violation, so that the token is kept for nothing.
CREATE FUNCTION signup_otp_register(
    p_token_hash bytea, p_email text, p_user_type text, p_now timestamp,
    p_hashed_password text, p_full_name text,
    OUT outcome text, OUT account_id integer, OUT account_email varchar,
    OUT account_full_name varchar, OUT account_created_at timestamp)
LANGUAGE plpgsql AS $$
DECLARE
    v_verified_at timestamp;
    v_active boolean;
BEGIN
    DELETE FROM signup_tokens
        WHERE token_hash = p_token_hash AND email = p_email AND user_type = p_user_type
        AND expires_at > p_now
        RETURNING verified_at INTO v_verified_at;
    IF NOT FOUND THEN
        outcome := 'invalid_token';
        RETURN;
    END IF;
    -- The identity's code rows first, in the order verify takes them (then the
    -- account): a register and a verify that finishes a registration for the
    -- same address, or a send, take turns instead of deadlocking.
    PERFORM 1 FROM signup_otps WHERE email = p_email AND user_type = p_user_type FOR UPDATE;
    IF p_user_type = 'live' THEN
        PERFORM 1 FROM otps WHERE user_id = (SELECT u.id FROM users u WHERE u.email = p_email)
            FOR UPDATE;
    ELSE
        PERFORM 1 FROM otps
            WHERE demo_user_id = (SELECT u.id FROM demo_users u WHERE u.email = p_email)
            FOR UPDATE;
    END IF;
    IF p_user_type = 'live' THEN
        SELECT u.id, u.is_active INTO account_id, v_active FROM users u WHERE u.email = p_email;
    ELSE
        SELECT u.id, u.is_active INTO account_id, v_active FROM demo_users u WHERE u.email = p_email;
    END IF;
    IF v_active THEN
        RAISE unique_violation USING MESSAGE = 'the address is registered';
    ELSIF account_id IS NOT NULL THEN
        IF p_user_type = 'live' THEN
            UPDATE users SET is_active = true, hashed_password = p_hashed_password,
                    full_name = coalesce(p_full_name, full_name)
                WHERE id = account_id AND is_active = false
                RETURNING email, full_name, created_at
                INTO account_email, account_full_name, account_created_at;
        ELSE
            UPDATE demo_users SET is_active = true, hashed_password = p_hashed_password,
                    full_name = coalesce(p_full_name, full_name)
                WHERE id = account_id AND is_active = false
                RETURNING email, full_name, created_at
                INTO account_email, account_full_name, account_created_at;
        END IF;
        IF NOT FOUND THEN
            RAISE unique_violation USING MESSAGE = 'the account was activated meanwhile';
        END IF;
        IF p_user_type = 'live' THEN
            DELETE FROM otps WHERE user_id = account_id;
        ELSE
            DELETE FROM otps WHERE demo_user_id = account_id;
        END IF;
    ELSIF p_user_type = 'live' THEN
        INSERT INTO users (email, user_type, hashed_password, full_name, is_active, created_at)
            VALUES (p_email, 'live', p_hashed_password, p_full_name, true, p_now)
            RETURNING id INTO account_id;
    ELSE
        INSERT INTO demo_users (email, hashed_password, full_name, is_active, created_at)
            VALUES (p_email, p_hashed_password, p_full_name, true, p_now)
            RETURNING id INTO account_id;
    END IF;
    IF account_email IS NULL THEN
        account_email := p_email;
        account_full_name := p_full_name;
        account_created_at := p_now;
    END IF;
    DELETE FROM pending_registrations WHERE email = p_email AND user_type = p_user_type;
    IF p_user_type = 'live' THEN
        UPDATE signup_otps SET is_verified = true, verified_at = v_verified_at, user_id = account_id
            WHERE email = p_email AND user_type = p_user_type
            AND user_id IS NULL AND demo_user_id IS NULL;
    ELSE
        UPDATE signup_otps SET is_verified = true, verified_at = v_verified_at,
                demo_user_id = account_id
            WHERE email = p_email AND user_type = p_user_type
            AND user_id IS NULL AND demo_user_id IS NULL;
    END IF;
    outcome := 'registered';
END
$$;
