//! `api/auth` and the policies it enforces: signup and activation, sessions, passwords, lockout.

mod lockout;
mod mfa;
mod passwords;
mod sessions;
mod signup;
