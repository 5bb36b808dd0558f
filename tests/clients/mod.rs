//! The published clients themselves, unmodified, against the real control plane: Frontegg's
//! browser SDK (`@frontegg/rest-api`, driven from Node with a browser's fetch rules around
//! it), its Node SDK (`@frontegg/client`) validating issued tokens, CORS as a browser checks
//! it, and a real headless Chromium across two origins.

mod chromium;
mod cors;
mod node_sdk;
mod rest_api;
