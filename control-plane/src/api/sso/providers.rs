//! The provider lists the login box reads on every load, without credentials:
//! `GET sso/v2` (social providers, an array) and `GET sso/custom/v1` (`{providers}`, without
//! secrets). A failure here hides every social button, so both answer — with no provider,
//! which is what this environment has; creating one is not built yet (501).

use axum::Json;
use axum::routing::get;
use serde::Serialize;

use crate::api::Ops;

/// A social provider as `sso/v2` lists it (none can exist yet).
#[derive(Serialize)]
pub(super) struct SocialProvider {}

/// `GET sso/v2`.
pub(super) async fn social() -> Json<Vec<SocialProvider>> {
    Json(Vec::new())
}

/// `ICustomSocialLoginProviderConfigurationV1`.
#[derive(Serialize)]
pub(super) struct CustomProviders {
    providers: Vec<SocialProvider>,
}

/// `GET sso/custom/v1`.
pub(super) async fn custom() -> Json<CustomProviders> {
    Json(CustomProviders {
        providers: Vec::new(),
    })
}

pub(super) fn ops() -> Ops {
    Ops::default()
        .add("SsoV2Controller_getSsoProviders", custom)
        .add_extra("/resources/sso/v2", get(social))
}
