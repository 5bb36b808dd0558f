//! Attacks and bad inputs (`security.md`): forged tokens, bounds, enumeration, granting,
//! isolation between accounts, oracles, removal cascades, request smuggling, the fuzz corpus.

mod attacks_jwt;
mod bounds;
mod codes;
mod enumeration;
mod fuzz_corpus;
mod granting;
mod isolation;
mod oracles;
mod removal;
mod smuggling;
