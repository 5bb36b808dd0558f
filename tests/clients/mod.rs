//! The published clients themselves, unmodified, against the real control plane: Frontegg's
//! browser SDK (`@frontegg/rest-api`, driven from Node with a browser's fetch rules around
//! it), and CORS as a browser checks it.

mod cors;
mod rest_api;
