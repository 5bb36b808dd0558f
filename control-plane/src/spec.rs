//! The identity spec as the control plane routes it: one entry per operation (method, path,
//! operationId, tag), generated from `../shared/spec/` into [`ops`], and the marker that tells
//! which operation produced a response. Below both `http` (which counts served operations)
//! and `api` (which implements them).

pub mod ops;

/// The gateway prefixes the spec's paths are served under (`design.md` §2).
pub const PREFIXES: [&str; 2] = ["/identity", "/frontegg/identity"];

/// One operation of the spec (generated into [`ops`]).
#[derive(Debug)]
pub struct SpecOp {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The spec's path template.
    pub path: &'static str,
    /// The path template as routed (parameter names unified per position).
    pub route: &'static str,
    /// The spec's operationId.
    pub operation_id: &'static str,
    /// The spec's tag.
    pub tag: &'static str,
}

/// Marks a response with the spec operation that produced it (for served-operation counts).
#[derive(Clone, Copy, Debug)]
pub struct OpIndex(pub usize);

/// Every operation of the spec.
pub fn spec_operations() -> &'static [SpecOp] {
    ops::OPERATIONS
}

/// The index of an operation in [`spec_operations`].
pub fn spec_index(operation_id: &str) -> Option<usize> {
    ops::OPERATIONS
        .iter()
        .position(|o| o.operation_id == operation_id)
}
