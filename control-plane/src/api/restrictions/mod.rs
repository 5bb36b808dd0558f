//! IP restrictions and email-domain restrictions (tags IP Restrictions, Domain
//! Restrictions), for the environment (environment token, no `frontegg-tenant-id`) or an
//! account (environment token with the header, or a user token holding the
//! `fe.secure.*.ipRestrictions` / `fe.secure.*.emailDomainRestrictions` permissions). Every
//! change goes through `model::restrictions` (one consistent transaction, an event for the
//! sidecars' next delta); enforcement is `http::guard`.

mod domains;
mod ip;

use crate::api::Ops;

pub(super) fn ops() -> Ops {
    Ops::default()
        // The bulk IP route real clients call though the spec omits it (`compat.md` §6.1).
        .add_extra(
            "/resources/configurations/v1/restrictions/ip/bulk",
            axum::routing::post(ip::bulk),
        )
        .add("IPRestrictionsControllerV1_getAllIpRestrictions", ip::list)
        .add("IPRestrictionsControllerV1_createIpRestriction", ip::create)
        .add(
            "IPRestrictionsControllerV1_getIpRestrictionConfig",
            ip::get_config,
        )
        .add(
            "IPRestrictionsControllerV1_createDomainRestriction",
            ip::set_config,
        )
        .add("IPRestrictionsControllerV1_testCurrentIp", ip::verify)
        .add("testCurrentIpInAllowList", ip::verify_allow_list)
        .add(
            "IPRestrictionsControllerV1_deleteIpRestrictionById",
            ip::delete,
        )
        .add(
            "DomainRestrictionsController_getDomainRestrictions",
            domains::list,
        )
        .add(
            "DomainRestrictionsController_createDomainRestriction",
            domains::create,
        )
        .add(
            "DomainRestrictionsController_getDomainRestrictionsConfig",
            domains::get_config,
        )
        .add(
            "DomainRestrictionsController_updateDomainRestrictionsConfig",
            domains::set_config,
        )
        .add(
            "DomainRestrictionsController_createBulkDomainsRestriction",
            domains::replace,
        )
        .add(
            "DomainRestrictionsController_deleteDomainRestriction",
            domains::delete,
        )
}
