//! What holds for the codebase as a whole: spec conformance and routing, the coverage
//! report, the error shape, the layering of the sources.

mod conformance;
mod coverage;
mod errors;
mod layering;
mod routing;
