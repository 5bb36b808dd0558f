//! Enforcement at the sidecar with the control plane: distribution of state, and request facts through
//! real proxies (nginx, Traefik, Envoy shapes).

pub mod distribution;
mod identity;
mod replicas;
mod request_facts;
mod step_up;
