//! What the domain tells people — activation, password reset, unlock, notices — and to
//! whom. The domain decides what to send; `delivery` carries it, after the reply (a send
//! never blocks or fails a request, which would tell whether an address exists).

/// How a message travels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channel {
    /// Email (`to` is an address).
    #[default]
    Email,
    /// SMS (`to` is a phone number; `subject` is unused).
    Sms,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Email or SMS.
    pub channel: Channel,
    /// Recipient address or phone number (as stored for the user).
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// What flow sent it (`activation`, `password-reset`, …), for logs and tests.
    pub kind: &'static str,
}

/// Where the links in messages point: the hosted pages under the public URL.
#[derive(Clone, Copy, Debug)]
pub struct Links<'a>(pub &'a str);

impl Links<'_> {
    /// The page that activates `user_id` with `token`.
    pub fn activation(&self, user_id: &str, token: &str) -> String {
        format!(
            "{}/oauth/account/activate?userId={user_id}&token={token}",
            self.0
        )
    }

    /// The page that resets `user_id`'s password with `token`.
    pub fn reset(&self, user_id: &str, token: &str) -> String {
        format!(
            "{}/oauth/account/reset-password?userId={user_id}&token={token}",
            self.0
        )
    }

    /// The page that logs in with a magic link's `token` (the page posts it; opening the
    /// link consumes nothing).
    pub fn magic_link(&self, token: &str) -> String {
        format!("{}/oauth/account/login/magic-link?token={token}", self.0)
    }

    /// The page that accepts `user_id`'s invitation to an account with `token`.
    pub fn invitation(&self, user_id: &str, token: &str) -> String {
        format!(
            "{}/oauth/account/invitation/accept?userId={user_id}&token={token}",
            self.0
        )
    }

    /// The page that signs up or logs in through an account's invitation link.
    pub fn invitation_link(&self, token: &str) -> String {
        format!("{}/oauth/account/sign-up?invitationToken={token}", self.0)
    }

    /// The page that unlocks an account with `token`.
    pub fn unlock(&self, token: &str) -> String {
        format!("{}/oauth/account/unlock?token={token}", self.0)
    }
}

fn email(to: &str, subject: &str, body: String, kind: &'static str) -> Message {
    Message {
        channel: Channel::Email,
        to: to.to_owned(),
        subject: subject.to_owned(),
        body,
        kind,
    }
}

/// The activation mail: the link, and the code for `activate/code` when there is one.
pub fn activation(
    links: Links<'_>,
    to: &str,
    user_id: &str,
    token: &str,
    code: Option<&str>,
) -> Message {
    let link = links.activation(user_id, token);
    let code = code
        .map(|c| format!("\nOr enter this activation code: {c}\n"))
        .unwrap_or_default();
    email(
        to,
        "Activate your account",
        format!(
            "Welcome!\n\nActivate your account by opening this link within 24 hours:\n{link}\n{code}"
        ),
        "activation",
    )
}

/// The invitation of a user added to an account: the activation link, where the invited
/// user chooses a password and is logged in.
pub fn invitation(
    links: Links<'_>,
    to: &str,
    account: &str,
    user_id: &str,
    token: &str,
) -> Message {
    email(
        to,
        &format!("You were invited to {account}"),
        format!(
            "You were invited to join {account}.\n\nAccept the invitation by opening this link within 24 hours:\n{}\n",
            links.activation(user_id, token)
        ),
        "invitation",
    )
}

/// To the owner of an address someone tried to sign up with again.
pub fn signup_existing(to: &str) -> Message {
    email(
        to,
        "Sign-up attempt",
        "Someone tried to sign up with this address, which already has an account. \
         If it was you, log in or reset your password."
            .into(),
        "signup-existing",
    )
}

/// The password-reset mail.
pub fn password_reset(links: Links<'_>, to: &str, user_id: &str, token: &str) -> Message {
    email(
        to,
        "Reset your password",
        format!(
            "Reset your password by opening this link within an hour:\n{}\n",
            links.reset(user_id, token)
        ),
        "password-reset",
    )
}

/// The texted password-reset code.
pub fn sms_reset(phone: &str, code: &str) -> Message {
    Message {
        channel: Channel::Sms,
        to: phone.to_owned(),
        subject: String::new(),
        body: format!("Your password reset code is {code}. It expires in 10 minutes."),
        kind: "sms-password-reset",
    }
}

/// The mail of a locked account: how to unlock it.
pub fn unlock(links: Links<'_>, to: &str, token: &str) -> Message {
    email(
        to,
        "Your account was locked",
        format!(
            "Your account was locked after repeated failed sign-in attempts.\n\n\
             If these were you, unlock it with this link within 24 hours:\n{}\n",
            links.unlock(token)
        ),
        "unlock",
    )
}

/// An MFA code by email.
pub fn mfa_email_code(to: &str, code: &str, ttl: u32) -> Message {
    email(
        to,
        "Your verification code",
        format!(
            "Your verification code is {code}. It expires in {} minutes.\n\n\
             If you did not try to sign in, change your password.\n",
            ttl / 60
        ),
        "mfa-email-code",
    )
}

/// An MFA code by SMS.
pub fn mfa_sms_code(phone: &str, code: &str, ttl: u32) -> Message {
    Message {
        channel: Channel::Sms,
        to: phone.to_owned(),
        subject: String::new(),
        body: format!(
            "Your verification code is {code}. It expires in {} minutes.",
            ttl / 60
        ),
        kind: "mfa-sms-code",
    }
}

/// To a user whose MFA was removed with the recovery code.
pub fn mfa_recovered(to: &str) -> Message {
    email(
        to,
        "Multi-factor authentication was turned off",
        "Your recovery code was used and multi-factor authentication was turned off for your \
         account. If this was not you, reset your password and enrol again at once."
            .into(),
        "mfa-recovered",
    )
}

fn sms(to: &str, body: String, kind: &'static str) -> Message {
    Message {
        channel: Channel::Sms,
        to: to.to_owned(),
        subject: String::new(),
        body,
        kind,
    }
}

/// A magic link (passwordless login).
pub fn magic_link(links: Links<'_>, to: &str, token: &str, ttl: u32) -> Message {
    email(
        to,
        "Your sign-in link",
        format!(
            "Sign in by opening this link within {} minutes (it works once):\n{}\n\n\
             If you did not ask to sign in, ignore this message.\n",
            ttl.div_ceil(60),
            links.magic_link(token)
        ),
        "magic-link",
    )
}

/// A one-time sign-in code by email (passwordless login).
pub fn login_code(to: &str, code: &str, ttl: u32) -> Message {
    email(
        to,
        "Your sign-in code",
        format!(
            "Your sign-in code is {code}. It expires in {} minutes.\n\n\
             If you did not ask to sign in, ignore this message.\n",
            ttl.div_ceil(60)
        ),
        "login-code",
    )
}

/// A one-time sign-in code by SMS (passwordless login).
pub fn sms_login_code(phone: &str, code: &str, ttl: u32) -> Message {
    sms(
        phone,
        format!(
            "Your sign-in code is {code}. It expires in {} minutes.",
            ttl.div_ceil(60)
        ),
        "sms-login-code",
    )
}

/// A code that proves a phone number (adding or removing a login phone).
pub fn phone_code(phone: &str, code: &str, ttl: u32) -> Message {
    sms(
        phone,
        format!(
            "Your phone verification code is {code}. It expires in {} minutes.",
            ttl.div_ceil(60)
        ),
        "phone-code",
    )
}

/// A code that proves an address (an added email, or the user's new email).
pub fn email_code(to: &str, code: &str, ttl: u32) -> Message {
    email(
        to,
        "Verify your email address",
        format!(
            "Your email verification code is {code}. It expires in {} minutes.\n\n\
             If you did not ask for this, ignore this message.\n",
            ttl.div_ceil(60)
        ),
        "email-code",
    )
}

/// To the previous address of a user whose email changed.
pub fn email_changed(to: &str, new: &str) -> Message {
    email(
        to,
        "Your email address was changed",
        format!(
            "The email address of your account was changed to {new}. If this was not you, \
             contact your administrator at once.\n"
        ),
        "email-changed",
    )
}

/// The invitation of an existing user to another account: the accept link (and the code,
/// with the code strategy).
pub fn invitation_accept(
    links: Links<'_>,
    to: &str,
    account: &str,
    user_id: &str,
    token: &str,
    code: Option<&str>,
) -> Message {
    let code = code
        .map(|c| format!("\nOr enter this invitation code: {c}\n"))
        .unwrap_or_default();
    email(
        to,
        &format!("You were invited to {account}"),
        format!(
            "You were invited to join {account}.\n\nAccept the invitation by opening this link:\n{}\n{code}",
            links.invitation(user_id, token)
        ),
        "invitation-accept",
    )
}

/// An account's invitation link, mailed to whoever it names.
pub fn invitation_link(links: Links<'_>, to: &str, account: &str, token: &str) -> Message {
    email(
        to,
        &format!("Join {account}"),
        format!(
            "You were invited to join {account}.\n\nSign up or log in through this link:\n{}\n",
            links.invitation_link(token)
        ),
        "invitation-link",
    )
}

/// To the owner of an invitation link someone used.
pub fn invitation_used(to: &str, account: &str, who: &str) -> Message {
    email(
        to,
        &format!("{who} joined {account}"),
        format!("{who} joined {account} through your invitation link.\n"),
        "invitation-used",
    )
}
