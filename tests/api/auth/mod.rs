//! `api/auth` and the policies it enforces: signup and activation, sessions, passwords, lockout.

mod lockout;
pub mod mfa;
mod passwordless;
mod passwords;
mod sessions;
mod signup;
mod webauthn;
