//! `api/auth` and the policies it enforces: signup and activation, sessions, passwords, lockout;
//! the hosted login (its pages and authorization server).

mod hosted;
mod lockout;
pub mod mfa;
mod passwordless;
mod passwords;
mod sessions;
mod signup;
mod webauthn;
