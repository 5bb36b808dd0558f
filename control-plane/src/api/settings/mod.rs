//! Settings (tags Core Settings, Lockout Policy, Password Settings, Sessions Configuration):
//! the environment's configuration and the policies every account may set for itself, the
//! environment's applying where it has none (`model::setting`).

mod lockout;
mod passwords;
mod scoped;
mod sessions;
mod vendor;

use crate::api::Ops;
use crate::model::lockout::LockoutPolicy;
use crate::model::password_policy::{HistoryPolicy, RotationPolicy, StoredPasswordPolicy};
use crate::model::session::StoredSessionPolicy;

pub(super) fn ops() -> Ops {
    use scoped::{create, get_environment, get_in_force, get_own, update, upsert};
    Ops::default()
        .add("VendorConfigController_getVendorConfig", vendor::get_config)
        .add(
            "VendorConfigController_addOrUpdateConfig",
            vendor::update_config,
        )
        .add(
            "VendorConfigController_getVendorConfigBasic",
            vendor::get_basic,
        )
        .add(
            "LockoutPolicyController_createLockoutPolicy",
            create::<LockoutPolicy>,
        )
        .add(
            "LockoutPolicyController_updateLockoutPolicy",
            update::<LockoutPolicy>,
        )
        .add(
            "LockoutPolicyController_getLockoutPolicy",
            get_own::<LockoutPolicy>,
        )
        .add(
            "PasswordPolicyController_getPasswordConfig",
            get_in_force::<StoredPasswordPolicy>,
        )
        .add(
            "PasswordPolicyController_addOrUpdatePasswordConfig",
            upsert::<StoredPasswordPolicy>,
        )
        .add(
            "UsersPasswordControllerV1_getUserPasswordConfig",
            passwords::public_policy,
        )
        .add(
            "PasswordHistoryPolicyController_createPolicy",
            create::<HistoryPolicy>,
        )
        .add(
            "PasswordHistoryPolicyController_updatePolicy",
            update::<HistoryPolicy>,
        )
        .add(
            "PasswordHistoryPolicyController_getPolicy",
            get_own::<HistoryPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_getPasswordRotationConfiguration",
            get_in_force::<RotationPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_upsertPasswordRotationConfiguration",
            upsert::<RotationPolicy>,
        )
        .add(
            "PasswordRotationConfigControllerV1_getVendorPasswordRotationConfiguration",
            get_environment::<RotationPolicy>,
        )
        .add(
            "SessionConfigurationControllerV1_getSessionConfiguration",
            get_in_force::<StoredSessionPolicy>,
        )
        .add(
            "SessionConfigurationControllerV1_createSessionConfiguration",
            upsert::<StoredSessionPolicy>,
        )
        .add(
            "SessionConfigurationControllerV1_getVendorSessionConfiguration",
            get_environment::<StoredSessionPolicy>,
        )
}
