//! Logging in and everything before it (tags General, User Management, Password Settings,
//! Users): password login, refresh and logout with the cookie, unlocking, signup,
//! activation, and passwords outside a login. The flows' rules live in `model::login`,
//! `model::signup` and `model::credentials`.

mod activation;
mod issue;
mod login;
mod passwords;
mod session;
mod signup;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        .add(
            "AuthenticatioAuthenticationControllerV1_authenticateLocalUser",
            login::login,
        )
        .add(
            "AuthenticatioAuthenticationControllerV1_refreshToken",
            session::refresh,
        )
        .add(
            "AuthenticatioAuthenticationControllerV1_logout",
            session::logout,
        )
        .add("UsersControllerV3_unlock", login::unlock)
        .add("UsersControllerV1_signUpUser", signup::sign_up)
        .add(
            "UsersSignUpControllerV1_signUpUserUsername",
            signup::sign_up_username,
        )
        .add(
            "UsersActivationControllerV1_activateUserWithCode",
            activation::activate_with_code,
        )
        .add(
            "UsersActivationControllerV1_activateUser",
            activation::activate,
        )
        .add(
            "UsersActivationControllerV1_getActivationStrategy",
            activation::strategy,
        )
        .add(
            "UsersActivationControllerV1_resetActivationToken",
            activation::resend,
        )
        .add(
            "UsersControllerV1_generateUserActivationLink",
            activation::generate_link,
        )
        .add(
            "UsersPasswordControllerV1_changePassword",
            passwords::change,
        )
        .add(
            "UsersPasswordControllerV1_resetPassword",
            passwords::request_reset,
        )
        .add(
            "UsersPasswordControllerV1_verifyResetPassword",
            passwords::verify_reset,
        )
        .add(
            "UsersControllerV1_generateUserPasswordResetLink",
            passwords::generate_link,
        )
        .add(
            "VendorOnlyUsers_verifyUserPassword",
            passwords::vendor_verify,
        )
        .add(
            "UsersPasswordControllerV2_resetPasswordViaEmail",
            passwords::request_reset_by_email,
        )
        .add(
            "UsersPasswordControllerV2_resetPasswordViaSms",
            passwords::request_reset_by_sms,
        )
        .add(
            "UsersPasswordControllerV2_verifyResetPasswordViaSmsOtc",
            passwords::verify_reset_by_sms,
        )
}
