// The signup journey against this service: send-otp → verify-otp → register.
// A small, dependency-free client that a client developer can copy:
//  - every call carries an Idempotency-Key, made once per action and reused when
//    the same action is retried (a network error, a double click), so a retry
//    never sends a second email, spends a second attempt or makes a second account;
//  - errors are shown from the response's `detail`;
//  - the resend button waits out `resend_after` / `Retry-After`.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { email: "", userType: "live", verificationId: null, signupToken: null, countdown: null };

// A random key that works outside secure contexts too (crypto.randomUUID does not).
function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// One action = one key. The key is kept while the action has no final answer.
class Action {
  constructor(path) { this.path = path; this.key = null; this.body = null; this.busy = false; }

  async run(body) {
    if (this.busy) return null; // a double click while the first is on its way
    const text = JSON.stringify(body);
    if (this.body !== text) { this.key = newKey(); this.body = text; }
    this.busy = true;
    try {
      for (let attempt = 0; ; attempt++) {
        let response;
        try {
          response = await fetch(this.path, {
            method: "POST",
            headers: { "Content-Type": "application/json", "Idempotency-Key": this.key },
            body: text,
          });
        } catch (networkError) {
          if (attempt < 2) { await wait(500 * 2 ** attempt); continue; } // same key
          return { ok: false, status: 0, data: { detail: "The service could not be reached. Check your connection and try again." } };
        }
        // The first request with this key is still running: ask again shortly.
        if (response.status === 409 && attempt < 5) {
          const data = await response.clone().json().catch(() => ({}));
          if (data.code === "idempotency_key_in_use") { await wait(300 * (attempt + 1)); continue; }
        }
        const data = await response.json().catch(() => ({ detail: "Unexpected answer from the service" }));
        const retryAfter = Number(response.headers.get("Retry-After")) || 0;
        // A final answer: the next action starts with a new key. A 429 or 5xx
        // was not kept by the service, so a retry of it may keep this key.
        if (response.status !== 429 && response.status < 500) this.body = null;
        return { ok: response.ok, status: response.status, data, retryAfter };
      }
    } finally {
      this.busy = false;
    }
  }
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const actions = {
  send: new Action("/api/v1/users/signup/send-otp"),
  verify: new Action("/api/v1/users/signup/verify-otp"),
  register: new Action("/api/v1/users/register"),
};

function say(message) { $("status").textContent = message; }

function showError(message, field) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
  for (const field of document.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
}

function show(form) {
  for (const id of ["email-form", "code-form", "register-form", "done"]) $(id).hidden = id !== form;
}

async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try { return await work(); } finally { button.removeAttribute("aria-busy"); button.disabled = false; }
}

// The resend button stays disabled until the service allows another code.
function startCountdown(seconds) {
  clearInterval(state.countdown);
  const button = $("resend");
  let left = Math.max(0, Math.ceil(seconds));
  const tick = () => {
    if (left <= 0) {
      clearInterval(state.countdown);
      button.disabled = false;
      button.textContent = "Resend code";
      return;
    }
    button.disabled = true;
    button.textContent = `Resend code in ${left} s`;
    left -= 1;
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

async function sendCode() {
  const result = await actions.send.run({ email: state.email, user_type: state.userType });
  if (!result) return false;
  if (result.ok) {
    // Verifying with this id spends attempts of this page's own, which nobody
    // guessing at the address can use up.
    state.verificationId = result.data.verification_id;
    $("sent-to").textContent = `We sent a code to ${state.email}.`;
    $("expires-in").textContent = String(Math.ceil(result.data.expires_in / 60));
    say(result.data.message);
    startCountdown(result.data.resend_after);
    return true;
  }
  if (result.status === 429 && result.retryAfter) startCountdown(result.retryAfter);
  showError(result.data.detail || "The code could not be sent");
  return result.status === 429; // a code already sent stays valid
}

$("email-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  const email = $("email");
  if (!email.value.trim() || !email.checkValidity()) {
    showError("Enter a valid email address", email);
    return;
  }
  state.email = email.value.trim();
  state.userType = document.querySelector("input[name=user_type]:checked").value;
  busy($("send"), async () => {
    if (await sendCode()) {
      show("code-form");
      $("code").focus();
    } else {
      email.focus();
    }
  });
});

$("resend").addEventListener("click", () => {
  clearError();
  $("resend").disabled = true;
  sendCode().then(() => $("code").focus());
});

$("code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  const code = $("code");
  busy($("verify"), async () => {
    const result = await actions.verify.run({
      email: state.email, user_type: state.userType, otp_code: code.value.trim(),
      verification_id: state.verificationId,
    });
    if (!result) return;
    if (!result.ok) {
      showError(result.data.detail || "The code could not be checked", code);
      code.select();
      return;
    }
    // The code proves the address; the password is chosen now, by whoever proved
    // it, also for an account that existed before (its old password is replaced).
    state.signupToken = result.data.signup_token;
    say(result.data.flow === "activation"
      ? "Email verified. Choose a password for your account to activate it."
      : "Email verified. Choose a password to finish.");
    show("register-form");
    $("password").focus();
  });
});

$("register-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  const password = $("password");
  if (password.value.length < 8) {
    showError("Password must be at least 8 characters", password);
    return;
  }
  const body = {
    email: state.email, user_type: state.userType,
    password: password.value, signup_token: state.signupToken,
  };
  const fullName = $("full-name").value.trim();
  if (fullName) body.full_name = fullName;
  busy($("register"), async () => {
    const result = await actions.register.run(body);
    if (!result) return;
    if (!result.ok) {
      showError(result.data.detail || "The account could not be created", password);
      return;
    }
    finish("Your account is ready", `Signed up as ${result.data.email} (${result.data.user_type} account).`);
  });
});

function finish(title, detail) {
  clearInterval(state.countdown);
  say("");
  $("done-title").textContent = title;
  $("done-detail").textContent = detail;
  show("done");
  $("done-title").focus();
}
