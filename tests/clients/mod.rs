//! The published clients themselves, unmodified, against the real control plane: Frontegg's
//! browser SDK (`@frontegg/rest-api`, driven from Node with a browser's fetch rules around
//! it), its Node and Python SDKs (`@frontegg/client`, `frontegg`) validating issued
//! tokens, CORS as a browser checks it, and a real headless Chromium across two origins.

mod backend_sdks;
mod chromium;
mod cors;
mod rest_api;
